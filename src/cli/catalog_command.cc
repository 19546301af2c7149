// `contimg catalog import FILE --store PATH` and `contimg catalog cone RA DEC
// RADIUS --store PATH`: NVSS-like reference catalogues in an indexed local
// store (SPEC §7; docs/validation.md).
#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catalog/reference_store.h"
#include "cli/app.h"
#include "common/error.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct CatalogOptions {
  std::string file, store, name;
  std::string ra, dec;
  double radius_deg = 1;
  int limit = 0;
};

fs::path store_path(const CommandContext& ctx, const std::string& given) {
  if (!given.empty()) return given;
  const auto p = ctx.config().get_path("validation.reference_catalogue");
  if (p.empty()) throw ConfigError("catalog: give --store or set validation.reference_catalogue");
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void register_catalog_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<CatalogOptions>();
  auto* cmd = app.add_subcommand("catalog", "Reference catalogues: import NVSS tables, cone queries");
  cmd->require_subcommand(1);

  auto* imp = cmd->add_subcommand("import", "Import an NVSS-like FITS or CSV/TSV table into the store (replacing that catalogue)");
  imp->add_option("file", o->file, "HEASARC/VizieR NVSS FITS table or CSV/TSV")->required()->check(CLI::ExistingFile);
  imp->add_option("--store", o->store, "Store (SQLite) path (default: validation.reference_catalogue)");
  imp->add_option("--name", o->name, "Catalogue name in the store (default: the file's stem)");
  imp->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      const auto t0 = std::chrono::steady_clock::now();
      const auto sources = catalog::read_nvss(o->file);
      const auto name = o->name.empty() ? fs::path(o->file).stem().string() : o->name;
      catalog::ReferenceStore store(store_path(ctx, o->store));
      const auto n = store.import(name, sources);
      const double secs = seconds_since(t0);
      if (ctx.json()) {
        std::cout << nlohmann::json{{"store", store.path().string()}, {"catalogue", name}, {"imported", n},
                                    {"total", store.count()}, {"seconds", secs}}.dump(2) << "\n";
      } else {
        std::cout << fmt::format("imported {} sources as \"{}\" into {} ({} in the store, {:.1f} s)\n", n, name,
                                 store.path().string(), store.count(), secs);
      }
      return 0;
    };
  });

  auto* cone = cmd->add_subcommand("cone", "Sources within RADIUS (deg) of RA DEC (deg or sexagesimal hh:mm:ss dd:mm:ss)");
  cone->add_option("ra", o->ra, "RA: degrees or hh:mm:ss.s")->required();
  cone->add_option("dec", o->dec, "Dec: degrees or dd:mm:ss.s")->required();
  cone->add_option("radius", o->radius_deg, "Radius (deg)")->required()->check(CLI::Range(0.0, 180.0));
  cone->add_option("--store", o->store, "Store (SQLite) path (default: validation.reference_catalogue)");
  cone->add_option("--limit", o->limit, "Print at most this many (nearest first; 0 = all)");
  cone->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      const bool sexa = o->ra.find(':') != std::string::npos || o->ra.find(' ') != std::string::npos;
      const double ra = catalog::parse_angle_deg(o->ra, sexa);
      const double dec = catalog::parse_angle_deg(o->dec, false);
      if (dec < -90 || dec > 90) throw ConfigError(fmt::format("catalog cone: Dec {} outside [-90, 90]", dec));
      const catalog::ReferenceStore store(store_path(ctx, o->store), false);
      const auto t0 = std::chrono::steady_clock::now();
      auto hits = store.cone(ra, dec, o->radius_deg);
      const double ms = seconds_since(t0) * 1e3;
      const std::size_t total = hits.size();
      if (o->limit > 0 && hits.size() > static_cast<std::size_t>(o->limit)) hits.resize(static_cast<std::size_t>(o->limit));
      if (ctx.json()) {
        nlohmann::json j = {{"count", total}, {"query_ms", ms}, {"sources", nlohmann::json::array()}};
        for (const auto& s : hits) {
          j["sources"].push_back({{"name", s.name}, {"ra_deg", s.ra_deg}, {"dec_deg", s.dec_deg},
                                  {"flux_jy", s.flux_jy}, {"flux_err_jy", s.flux_err_jy},
                                  {"major_arcsec", s.major_arcsec}, {"minor_arcsec", s.minor_arcsec}, {"pa_deg", s.pa_deg}});
        }
        std::cout << j.dump(2) << "\n";
      } else {
        for (const auto& s : hits) {
          std::cout << fmt::format("{:<20} {:11.6f} {:+10.6f} {:10.2f} mJy\n", s.name, s.ra_deg, s.dec_deg, s.flux_jy * 1e3);
        }
        std::cout << fmt::format("{} sources within {} deg ({:.2f} ms)\n", total, o->radius_deg, ms);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
