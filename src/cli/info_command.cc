// `contimg info`: versions of every linked library, the WSClean binary, HDF5
// filter plugins and cache profiles, and the effective configuration with the
// source of each value.
#include <aoflagger.h>
#include <erfa.h>
#include <erfaextra.h>
#include <fftw3.h>
#include <fitsio.h>
#include <sqlite3.h>
#include <wcslib/wcs.h>

#include <iostream>
#include <regex>

#include <CLI/Version.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/version.h>
#include <toml++/toml.h>

#include "cli/app.h"
#include "common/build_info.h"
#include "common/subprocess.h"
#include "io/ms/casa_table.h"
#include "io/uvh5/cache_profile.h"
#include "io/uvh5/hdf5_handle.h"

namespace contimg::cli {
namespace {

nlohmann::json library_versions() {
  int wcs[3] = {0, 0, 0};
  wcslib_version(wcs);
  short ao_major = 0, ao_minor = 0, ao_sub = 0;
  aoflagger::AOFlagger::GetVersion(ao_major, ao_minor, ao_sub);
  return {
      {"hdf5", uvh5::hdf5_version()},
      {"casacore", ms::casacore_version()},
      {"erfa", std::string(eraVersion())},
      {"cfitsio", fmt::format("{}.{}.{}", CFITSIO_MAJOR, CFITSIO_MINOR, CFITSIO_MICRO)},
      {"wcslib", fmt::format("{}.{}.{}", wcs[0], wcs[1], wcs[2])},
      {"fftw", std::string(fftw_version)},
      {"aoflagger", fmt::format("{}.{}.{}", ao_major, ao_minor, ao_sub)},
      {"sqlite", std::string(sqlite3_libversion())},
      {"spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH)},
      {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
      {"tomlplusplus", fmt::format("{}.{}.{}", TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH)},
      {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                    NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
      {"cli11", std::string(CLI11_VERSION)},
  };
}

nlohmann::json wsclean_binary() {
  const auto path = find_in_path("wsclean");
  if (!path) return {{"found", false}, {"path", nullptr}, {"version", nullptr}};
  const auto res = run_process({path->string(), "-version"}, std::chrono::seconds(20));
  std::smatch m;
  std::string version = "unknown";
  if (std::regex_search(res.output, m, std::regex(R"(WSClean version ([0-9][^\s]*))"))) {
    version = m[1];
  }
  return {{"found", true}, {"path", path->string()}, {"version", version}};
}

nlohmann::json hdf5_json(const config::Config& cfg) {
  const auto profiles = uvh5::CacheProfiles::from_config(cfg);
  nlohmann::json p;
  for (auto prof : {uvh5::CacheProfile::kMetadata, uvh5::CacheProfile::kStandard,
                    uvh5::CacheProfile::kStreaming, uvh5::CacheProfile::kRandom}) {
    const auto& s = profiles.get(prof);
    p[uvh5::to_string(prof)] = {{"bytes", s.bytes}, {"slots", s.slots}, {"w0", s.w0}};
  }
  return {{"plugin_dir", cfg.get_string("hdf5.plugin_dir")},
          {"filters",
           {{"gzip", uvh5::filter_available(H5Z_FILTER_DEFLATE)},
            {"lzf", uvh5::filter_available(32000)},
            {"bitshuffle", uvh5::filter_available(32008)}}},
          {"cache_profiles", p}};
}

void print_text(const nlohmann::json& j) {
  std::cout << fmt::format("contimg {} ({}, {})\n", j["contimg"]["version"].get<std::string>(),
                           j["contimg"]["build_type"].get<std::string>(),
                           j["contimg"]["compiler"].get<std::string>());
  std::cout << "\nLibraries:\n";
  for (const auto& [name, v] : j["libraries"].items()) {
    std::cout << fmt::format("  {:<14} {}\n", name, v.get<std::string>());
  }
  const auto& w = j["wsclean"];
  std::cout << fmt::format("  {:<14} {}\n", "wsclean",
                           w["found"].get<bool>()
                               ? fmt::format("{} ({})", w["version"].get<std::string>(),
                                             w["path"].get<std::string>())
                               : std::string("NOT FOUND in PATH (imaging unavailable)"));
  const auto& h = j["hdf5"];
  std::cout << fmt::format("\nHDF5 filter plugins from {}:\n", h["plugin_dir"].get<std::string>());
  for (const auto& [name, ok] : h["filters"].items()) {
    std::cout << fmt::format("  {:<14} {}\n", name, ok.get<bool>() ? "available" : "MISSING");
  }
  std::cout << "\nHDF5 chunk-cache profiles:\n";
  for (const auto& [name, p] : h["cache_profiles"].items()) {
    std::cout << fmt::format("  {:<14} {:>10} bytes  {:>6} slots  w0={}\n", name,
                             p["bytes"].get<std::size_t>(), p["slots"].get<std::size_t>(),
                             p["w0"].get<double>());
  }
  std::cout << fmt::format("\nConfiguration (file: {}):\n",
                           j["config_file"].is_null() ? std::string("none")
                                                      : j["config_file"].get<std::string>());
  for (const auto& [key, e] : j["config"].items()) {
    std::cout << fmt::format("  {:<30} = {:<32} [{}: {}]\n", key, e["value"].dump(),
                             e["source"].get<std::string>(), e["origin"].get<std::string>());
  }
}

}  // namespace

void register_info_command(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand(
      "info", "Versions of linked libraries and tools, HDF5 cache profiles, effective configuration");
  cmd->callback([&ctx] {
    ctx.action = [&ctx] {
      const auto& cfg = ctx.config();
      nlohmann::json j;
      j["contimg"] = {{"version", build::kVersion},
                      {"build_type", build::kBuildType},
                      {"compiler", build::kCompiler}};
      j["libraries"] = library_versions();
      j["wsclean"] = wsclean_binary();
      j["hdf5"] = hdf5_json(cfg);
      j["config_file"] = cfg.file() ? nlohmann::json(cfg.file()->string()) : nlohmann::json(nullptr);
      j["config"] = cfg.to_json();
      if (ctx.json()) {
        std::cout << j.dump(2) << "\n";
      } else {
        print_text(j);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
