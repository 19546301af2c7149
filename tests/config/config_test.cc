#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "support/tiny_uvh5.h"

namespace contimg::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string config_error(const LoadOptions& o) {
  try {
    Config::load(o);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

class ConfigTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    const auto p = dir_ / "contimg.toml";
    std::ofstream(p) << text;
    return p;
  }
  test::TempDir dir_;
};

TEST_F(ConfigTest, DefaultsComeFromTheSchema) {
  const Config c = Config::load({});
  EXPECT_EQ(c.get_int("hdf5.cache_standard_bytes"), 16 << 20);
  EXPECT_EQ(c.get_string("logging.level"), "info");
  EXPECT_EQ(c.entry("logging.level").source, Source::kDefault);
  EXPECT_EQ(c.entries().size(), schema().size());
}

TEST_F(ConfigTest, PrecedenceIsFileThenEnvironmentThenFlags) {
  LoadOptions o;
  o.file = write("[logging]\nlevel = \"debug\"\nformat = \"json\"\n[paths]\nstage_dir = \"/from/file\"\n");
  o.environment = {{"CONTIMG_LOGGING_LEVEL", "warn"}, {"CONTIMG_PATHS_STAGE_DIR", "/from/env"}};
  o.overrides = {{"paths.stage_dir", "/from/flag", "--set"}};
  const Config c = Config::load(o);
  EXPECT_EQ(c.get_string("logging.format"), "json");
  EXPECT_EQ(c.entry("logging.format").source, Source::kFile);
  EXPECT_THAT(c.entry("logging.format").origin, HasSubstr("contimg.toml:3"));
  EXPECT_EQ(c.get_string("logging.level"), "warn");
  EXPECT_EQ(c.entry("logging.level").source, Source::kEnvironment);
  EXPECT_EQ(c.entry("logging.level").origin, "CONTIMG_LOGGING_LEVEL");
  EXPECT_EQ(c.get_path("paths.stage_dir"), "/from/flag");
  EXPECT_EQ(c.entry("paths.stage_dir").source, Source::kFlag);
  EXPECT_EQ(c.entry("paths.stage_dir").origin, "--set");
}

TEST_F(ConfigTest, ConfigFileMayComeFromTheEnvironment) {
  LoadOptions o;
  o.environment = {{"CONTIMG_CONFIG", write("[hdf5]\ncache_slots = 521\n").string()}};
  EXPECT_EQ(Config::load(o).get_int("hdf5.cache_slots"), 521);
}

TEST_F(ConfigTest, UnknownKeysAreErrorsNamingTheirSource) {
  LoadOptions o;
  o.file = write("[hdf5]\ncache_standrd_bytes = 1\n");
  EXPECT_THAT(config_error(o), AllOf(HasSubstr("contimg.toml:2"), HasSubstr("hdf5.cache_standrd_bytes")));
  LoadOptions e;
  e.environment = {{"CONTIMG_LOGGING_LEVL", "x"}};
  EXPECT_THAT(config_error(e), HasSubstr("CONTIMG_LOGGING_LEVL"));
  LoadOptions f;
  f.overrides = {{"nope.key", "1", "--set"}};
  EXPECT_THAT(config_error(f), AllOf(HasSubstr("--set"), HasSubstr("nope.key")));
}

TEST_F(ConfigTest, ValuesAreTypeChecked) {
  LoadOptions o;
  o.environment = {{"CONTIMG_HDF5_CACHE_SLOTS", "many"}};
  EXPECT_THAT(config_error(o), AllOf(HasSubstr("CONTIMG_HDF5_CACHE_SLOTS"), HasSubstr("integer")));
  LoadOptions f;
  f.file = write("[logging]\nprogress_interval_s = \"soon\"\n");
  EXPECT_THAT(config_error(f), AllOf(HasSubstr("logging.progress_interval_s"), HasSubstr("number")));
  LoadOptions g;
  g.file = write("[logging\nlevel = 1\n");
  EXPECT_THAT(config_error(g), HasSubstr("contimg.toml:1"));
  LoadOptions m;
  m.file = dir_ / "missing.toml";
  EXPECT_THAT(config_error(m), HasSubstr("not found"));
}

TEST_F(ConfigTest, JsonCarriesTypedValuesAndProvenance) {
  LoadOptions o;
  o.overrides = {{"hdf5.cache_slots", "101", "--set"}};
  const auto j = Config::load(o).to_json();
  EXPECT_EQ(j.at("hdf5.cache_slots").at("value"), 101);
  EXPECT_EQ(j.at("hdf5.cache_slots").at("source"), "flag");
  EXPECT_EQ(j.at("logging.progress_interval_s").at("value"), 10.0);
}

TEST_F(ConfigTest, WithOverrideReturnsANewConfig) {
  const Config a = Config::load({});
  const Config b = a.with_override({"logging.level", "error", "--quiet"});
  EXPECT_EQ(a.get_string("logging.level"), "info");
  EXPECT_EQ(b.get_string("logging.level"), "error");
}

TEST_F(ConfigTest, AskingForAKeyAsTheWrongTypeIsAnError) {
  const Config c = Config::defaults();
  EXPECT_THROW(c.get_int("logging.level"), std::logic_error);
  EXPECT_THROW(c.get_bool("hdf5.cache_slots"), std::logic_error);
  EXPECT_THROW(c.get_double("paths.stage_dir"), std::logic_error);
}

TEST_F(ConfigTest, EnvironmentNamesFollowTheKey) {
  EXPECT_EQ(env_name("paths.stage_dir"), "CONTIMG_PATHS_STAGE_DIR");
}

TEST_F(ConfigTest, OutOfRangeValuesAreErrorsNamingKeyValueSourceAndRange) {
  LoadOptions f;
  f.overrides = {{"imaging.pb_cutoff", "7", "--set"}};
  EXPECT_THAT(config_error(f), AllOf(HasSubstr("flag --set"), HasSubstr("imaging.pb_cutoff = 7"),
                                     HasSubstr("[0, 1]")));
  LoadOptions e;
  e.environment = {{"CONTIMG_HDF5_CACHE_SLOTS", "-1"}};
  EXPECT_THAT(config_error(e), AllOf(HasSubstr("environment variable CONTIMG_HDF5_CACHE_SLOTS"),
                                     HasSubstr("hdf5.cache_slots = -1"), HasSubstr(">= 1")));
  LoadOptions t;
  t.file = write("[imaging]\nfield_deg = 0\n");
  EXPECT_THAT(config_error(t), AllOf(HasSubstr("file "), HasSubstr("contimg.toml:2"),
                                     HasSubstr("imaging.field_deg = 0"), HasSubstr("(0, 180]")));
  // The bounds themselves are allowed.
  LoadOptions ok;
  ok.overrides = {{"imaging.pb_cutoff", "1", "--set"}, {"hdf5.cache_slots", "1", "--set"},
                  {"imaging.pb_cutoff", "0", "--set"}};
  EXPECT_EQ(Config::load(ok).get_double("imaging.pb_cutoff"), 0.0);
}

TEST_F(ConfigTest, EnumLikeStringsAreCheckedWhenLoaded) {
  LoadOptions o;
  o.overrides = {{"calibration.when_uncalibrated", "ignore", "--set"}};
  EXPECT_THAT(config_error(o), AllOf(HasSubstr("calibration.when_uncalibrated"), HasSubstr("ignore"),
                                     HasSubstr("skip, fail")));
  LoadOptions d;
  d.environment = {{"CONTIMG_IMAGING_DATA_COLUMN", "corrected"}};
  EXPECT_THAT(config_error(d), AllOf(HasSubstr("CONTIMG_IMAGING_DATA_COLUMN"),
                                     HasSubstr("auto, DATA, CORRECTED_DATA")));
  EXPECT_THROW(Config::defaults().with_override({"logging.progress", "loud", "--progress"}), ConfigError);
}

// Every numeric key declares its range: a new key cannot forget it.
TEST(ConfigSchema, EveryNumericKeyHasARangeThatAdmitsItsDefault) {
  for (const auto& def : schema()) {
    if (def.type != Type::kInt && def.type != Type::kDouble) continue;
    EXPECT_TRUE(def.allowed.min || def.allowed.max) << def.key << " has no range";
    EXPECT_TRUE(def.allowed.admits(std::stod(def.default_value))) << def.key;
  }
}

TEST_F(ConfigTest, MinSubbandsMayNotExceedExpectedSubbands) {
  LoadOptions o;
  o.overrides = {{"grouping.expected_subbands", "8", "--set"}};
  EXPECT_THAT(config_error(o), AllOf(HasSubstr("grouping.min_subbands = 12"),
                                     HasSubstr("grouping.expected_subbands = 8")));
  o.overrides.push_back({"grouping.min_subbands", "8", "--set"});
  EXPECT_EQ(Config::load(o).get_int("grouping.min_subbands"), 8);
}

// docs/configuration.md must list every key with its default, and nothing else.
TEST(ConfigurationDoc, ListsEveryKeyWithItsDefault) {
  std::ifstream in(std::string(CONTIMG_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  // Rows look like: | `section.key` | type | `default` | allowed | description |
  const std::regex row(
      R"(\|\s*`([a-z0-9_]+\.[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|\s*`([^`]*)`\s*\|\s*([^|]*?)\s*\|)");
  std::map<std::string, std::pair<std::string, std::string>> documented;  // default, allowed
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it) {
    documented[(*it)[1]] = {(*it)[3], (*it)[4]};
  }
  for (const auto& def : schema()) {
    auto it = documented.find(def.key);
    ASSERT_NE(it, documented.end()) << def.key << " is not documented";
    if (def.key != "hdf5.plugin_dir" && def.key != "paths.data_dir") {  // build-dependent defaults
      EXPECT_EQ(it->second.first, def.default_value) << def.key;
    }
    EXPECT_EQ(it->second.second, def.allowed.text()) << def.key;
    documented.erase(it);
  }
  for (const auto& [key, _] : documented) ADD_FAILURE() << key << " is documented but not in the schema";
}

}  // namespace
}  // namespace contimg::config
