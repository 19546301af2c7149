// ValidateStage on a synthetic image: the chain contract's outputs, the
// report carrying earlier stages' QA, and a rerun giving the same result.
#include "validation/validate_stage.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "support/synthetic_image.h"

namespace contimg::validation {
namespace {
namespace fs = std::filesystem;

TEST(ValidateStage, FollowsTheChainContract) {
  const auto dir = fs::temp_directory_path() / fmt::format("contimg_vstage_{}", ::getpid());
  fs::remove_all(dir);
  const auto image = testing::write_synthetic(testing::make_synthetic_image({}), dir, "grp");
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults().with_override({"paths.state_db", (dir / "state.sqlite3").string(), "--set"}));
  ValidateStage stage(*cfg);
  pipeline::Context ctx(cfg, "grp",
                        {{"pbcor_fits", image.string()},
                         {"products_dir", (dir / "products").string()},
                         {"reference_catalogue", (dir / "grp.truth.json").string()},
                         {"flagged_fraction", 0.125},
                         {"calset_id", std::string("cal-2025-01-01")},
                         {"dead_antennas", std::vector<std::string>{"pad7"}}});
  stage.validate(ctx);
  const auto out = stage.execute(ctx);
  stage.validate_outputs(out);
  EXPECT_EQ(out.get_string("verdict"), "pass");
  EXPECT_FALSE(out.get_strings("verdict_reasons").empty());
  EXPECT_EQ(out.get_string("catalogue_fits"), (dir / "products" / "grp.sources.fits").string());
  EXPECT_TRUE(fs::exists(out.get_string("catalogue_csv")));
  std::stringstream html;
  html << std::ifstream(out.get_string("report_html")).rdbuf();
  EXPECT_NE(html.str().find("cal-2025-01-01"), std::string::npos);
  EXPECT_NE(html.str().find("pad7"), std::string::npos);
  EXPECT_NE(html.str().find("href=\"grp.sources.fits\""), std::string::npos) << "relative product links";
  // ':' is not in the base64 alphabet, so this cannot match inside an embedded PNG.
  EXPECT_EQ(html.str().find("http:"), std::string::npos) << "no network references";
  EXPECT_EQ(html.str().find("https:"), std::string::npos) << "no network references";
  const auto again = stage.execute(ctx);
  EXPECT_EQ(again.get_int("n_detections"), out.get_int("n_detections"));
  // Nothing but the products is left in the products directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "products")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"grp.report.html", "grp.sources.csv", "grp.sources.fits"}));
  // A missing reference is a configuration/input problem, named.
  pipeline::Context bad(cfg, "grp", {{"pbcor_fits", image.string()}, {"products_dir", dir.string()},
                                     {"reference_catalogue", (dir / "nope.json").string()}});
  EXPECT_THROW(stage.validate(bad), InputError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace contimg::validation
