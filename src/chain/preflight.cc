#include "chain/preflight.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <fstream>
#include <numbers>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "astro/astrometry.h"
#include "astro/time.h"
#include "catalog/reference_store.h"
#include "catalog/transits.h"
#include "catalog/vla_calibrators.h"
#include "common/error.h"
#include "common/subprocess.h"
#include "flagging/ms_flagger.h"
#include "imaging/wsclean_driver.h"
#include "sky/primary_beam.h"
#include "state/state_db.h"

namespace contimg::chain {
namespace fs = std::filesystem;
namespace {

using Severity = Finding::Severity;

// Why `path` cannot be read as a file, or "" when it can.
std::string unreadable_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "no such file";
  if (!fs::is_regular_file(path, ec)) return "not a regular file";
  std::ifstream in(path, std::ios::binary);
  char c;
  if (!in || (!in.read(&c, 1) && !in.eof())) return fmt::format("cannot be read ({})", std::strerror(errno));
  return {};
}

// Why a reference catalogue cannot be used, or "". Opens it as validation
// would, without reading a whole NVSS table (that takes seconds).
std::string unusable_reference(const fs::path& path) {
  if (auto why = unreadable_file(path); !why.empty()) return why;
  try {
    if (path.extension() == ".json") {
      std::ifstream in(path);
      [[maybe_unused]] const auto parsed = nlohmann::json::parse(in);
    } else if (catalog::is_sqlite_file(path)) {
      (void)catalog::ReferenceStore(path, false).count();
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

// The nearest existing ancestor of `p` (p itself when it exists).
fs::path existing_ancestor(fs::path p) {
  p = fs::absolute(p).lexically_normal();
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  return p;
}

// Why files cannot be created under `dir` (which may not exist yet), or "".
// A probe file, not access(2): root passes access() on read-only mounts.
std::string unwritable_dir(const fs::path& dir) {
  const fs::path base = existing_ancestor(dir);
  std::error_code ec;
  if (!fs::is_directory(base, ec)) {
    return fmt::format("{} is not a directory", base.string());
  }
  std::string probe = (base / ".contimg-preflight-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) return fmt::format("cannot create files in {} ({})", base.string(), std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return {};
}

void add(std::vector<Finding>& out, std::string stage, Severity s, std::string message) {
  out.push_back({std::move(stage), s, std::move(message)});
}

void check_input(const PreflightRequest& req, std::vector<Finding>& out) {
  std::error_code ec;
  if (!fs::is_directory(req.input_dir, ec)) {
    add(out, "convert", Severity::kError,
        fmt::format("input directory {}: not a directory; give the directory of the *_sbNN.hdf5 files",
                    req.input_dir.string()));
  }
}

void check_data_dir(const config::Config& cfg, std::vector<Finding>& out) {
  const fs::path data = cfg.get_path("paths.data_dir");
  const std::vector<std::pair<fs::path, const char*>> files = {
      {data / "DSA110_Station_Coordinates.csv", "station table"},
      {data / "iers" / "finals2000A.all", "IERS table"},
      {data / "iers" / "Leap_Second.dat", "leap-second table"},
      {catalog::vla_calibrator_path(data), "calibrator list"}};
  for (const auto& [path, what] : files) {
    if (auto why = unreadable_file(path); !why.empty()) {
      add(out, "convert", Severity::kError,
          fmt::format("{} {}: {}; point paths.data_dir at the repository's data/ directory (now {})", what,
                      path.string(), why, data.string()));
    }
  }
}

void check_strategy(const config::Config& cfg, std::vector<Finding>& out) {
  const auto strategy = flagging::FlagOptions::from_config(cfg).strategy;
  if (auto why = unreadable_file(strategy); !why.empty()) {
    add(out, "flag", Severity::kError,
        fmt::format("AOFlagger strategy {}: {}; set flagging.strategy to a Lua strategy file (empty = "
                    "<paths.data_dir>/strategies/dsa110-lband.lua)", strategy.string(), why));
  }
}

void check_wsclean(const config::Config& cfg, std::vector<Finding>& out) {
  const auto program = cfg.get_string("imaging.wsclean");
  const auto found = find_in_path(program);
  if (!found) {
    add(out, "image", Severity::kError,
        fmt::format("WSClean not found: \"{}\" is {} (install Debian's wsclean or set imaging.wsclean)", program,
                    program.find('/') == std::string::npos ? "not in PATH" : "not an executable file"));
    return;
  }
  // Present is not enough: a broken install (missing libraries) fails only when run.
  const auto r = run_process({found->string(), "--version"}, std::chrono::seconds(20));
  if (r.exit_code != 0 || r.timed_out) {
    auto first = r.output.substr(0, r.output.find('\n'));
    add(out, "image", Severity::kError,
        fmt::format("WSClean {} does not run: `--version` {}{}{}; fix the installation or set imaging.wsclean",
                    found->string(),
                    r.timed_out ? "timed out" : r.exit_code < 0 ? "was killed" : fmt::format("exited {}", r.exit_code),
                    first.empty() ? "" : ": ", first));
  }
}

void check_reference(const config::Config& cfg, const PreflightRequest& req, std::vector<Finding>& out) {
  if (req.reference) {
    if (auto why = unusable_reference(*req.reference); !why.empty()) {
      add(out, "validate", Severity::kError,
          fmt::format("reference catalogue {} (--reference): {}; give a sky-model/truth JSON, an NVSS FITS/CSV "
                      "table or a `contimg catalog import` store", req.reference->string(), why));
    }
    return;
  }
  // A configured reference that cannot be used is a configuration error even
  // when every group has its own: it is wrong, and the next run will need it.
  const fs::path configured = cfg.get_path("validation.reference_catalogue");
  if (!configured.empty()) {
    if (auto why = unusable_reference(configured); !why.empty()) {
      add(out, "validate", Severity::kError,
          fmt::format("reference catalogue {} (validation.reference_catalogue): {}; fix the path or unset the key "
                      "(validation then skips the cross-match)", configured.string(), why));
    }
    return;
  }
  const int without = req.n_groups - req.n_groups_with_reference;
  if (without > 0) {
    add(out, "validate", Severity::kWarning,
        fmt::format("no reference catalogue for {} of {} groups: validation will skip the cross-match (flux scale, "
                    "astrometry and completeness not checked; verdict warn at best); give --reference or set "
                    "validation.reference_catalogue (NVSS FITS/CSV, or a `contimg catalog import` store)",
                    without, req.n_groups));
  }
}

void check_dirs(const config::Config& cfg, const PreflightRequest& req, std::vector<Finding>& out) {
  std::vector<std::tuple<fs::path, std::string, std::string>> dirs = {
      {req.out_dir, "run", "output directory"},
      {cfg.get_path("paths.scratch_dir"), "run", "scratch directory (paths.scratch_dir)"}};
  // A PostgreSQL state database (state.db_url) has no directory here.
  if (const auto db = state::StateDb::resolve_path(cfg); !state::is_postgres_url(db.string())) {
    dirs.emplace_back(db.parent_path(), "run", "state database directory (paths.state_db)");
  }
  if (const auto d = cfg.get_path("calibration.caltables_dir"); !d.empty()) {
    dirs.emplace_back(d, "solve", "calibration tables directory (calibration.caltables_dir)");
  }
  if (const auto d = cfg.get_path("conversion.stage_dir"); !d.empty()) {
    dirs.emplace_back(d, "convert", "staging directory (conversion.stage_dir)");
  }
  std::set<fs::path> seen;
  for (const auto& [dir, stage, what] : dirs) {
    if (dir.empty() || !seen.insert(fs::absolute(dir).lexically_normal()).second) continue;
    if (auto why = unwritable_dir(dir); !why.empty()) {
      add(out, stage, Severity::kError, fmt::format("{} {}: not writable: {}", what, dir.string(), why));
    }
  }
}

void check_space(const config::Config& cfg, const PreflightRequest& req, std::vector<Finding>& out) {
  const auto need = estimate_output_bytes(cfg, req);
  if (need == 0) return;
  const fs::path base = existing_ancestor(req.out_dir);
  std::error_code ec;
  const auto space = fs::space(base, ec);
  if (ec) return;  // unwritable/absent tiers are reported by check_dirs
  const auto mb = [](std::uintmax_t b) { return static_cast<double>(b) / 1e6; };
  // Error below the estimate (the run cannot finish); warning below twice it:
  // the estimate is rough and the tier is shared.
  if (space.available < need) {
    add(out, "run", Severity::kError,
        fmt::format("{}: {:.0f} MB free, the run needs ~{:.0f} MB for {} groups; free space, choose another "
                    "--out or run fewer groups", base.string(), mb(space.available), mb(need), req.n_groups));
  } else if (space.available < 2 * need) {
    add(out, "run", Severity::kWarning,
        fmt::format("{}: {:.0f} MB free, less than twice the ~{:.0f} MB the run needs for {} groups; later groups "
                    "may fail for lack of space", base.string(), mb(space.available), mb(need), req.n_groups));
  }
}

void check_calibration(const config::Config& cfg, const PreflightRequest& req, std::vector<Finding>& out) {
  const auto when = cfg.get_string("calibration.when_uncalibrated");
  if (when != "skip" && when != "fail") {
    add(out, "applycal", Severity::kError,
        fmt::format("calibration.when_uncalibrated must be skip or fail, got \"{}\"", when));
    return;
  }
  if (req.n_groups == 0 || req.any_calibrator_transit || req.calset_available) return;
  add(out, "applycal", Severity::kWarning,
      when == "fail"
          ? fmt::format("no calibrator transit among the {} groups and no valid calibration set in the registry: "
                        "the groups will fail at applycal (calibration.when_uncalibrated = fail); include a "
                        "calibrator transit in the range or set calibration.when_uncalibrated = skip",
                        req.n_groups)
          : fmt::format("no calibrator transit among the {} groups and no valid calibration set in the registry: "
                        "the groups will be imaged uncalibrated (calibration.when_uncalibrated = skip); include a "
                        "calibrator transit in the range for calibrated images",
                        req.n_groups));
}

}  // namespace

std::uintmax_t estimate_output_bytes(const config::Config& cfg, const PreflightRequest& req) {
  if (req.n_groups <= 0) return 0;
  // Image products: image, residual, model, PSF, PB, PB-corrected (float32).
  // An automatic cell is ~3" for DSA-110 at 1.4 GHz (docs/imaging.md).
  const double cell = cfg.get_double("imaging.cell_arcsec") > 0 ? cfg.get_double("imaging.cell_arcsec") : 3.0;
  const double field = cfg.get_double("imaging.field_deg");
  std::uintmax_t per_group = 0;
  if (field > 0) {
    const auto n = static_cast<std::uintmax_t>(imaging::image_size_px(field, cell));
    per_group = 6 * n * n * 4;
  }
  return 2 * req.input_bytes + static_cast<std::uintmax_t>(req.n_groups) * per_group;
}

std::vector<Finding> preflight(const config::Config& cfg, const PreflightRequest& req) {
  std::vector<Finding> out;
  // A check that throws (an invalid configuration value it reads) is a finding
  // too: preflight reports everything at once rather than the first problem.
  auto guarded = [&out](const char* stage, auto&& check) {
    try {
      check();
    } catch (const std::exception& e) {
      add(out, stage, Severity::kError, e.what());
    }
  };
  guarded("convert", [&] { check_input(req, out); });
  guarded("convert", [&] { check_data_dir(cfg, out); });
  guarded("flag", [&] { check_strategy(cfg, out); });
  guarded("image", [&] { check_wsclean(cfg, out); });
  guarded("validate", [&] { check_reference(cfg, req, out); });
  guarded("run", [&] { check_dirs(cfg, req, out); });
  guarded("run", [&] { check_space(cfg, req, out); });
  guarded("applycal", [&] { check_calibration(cfg, req, out); });
  std::stable_sort(out.begin(), out.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  return out;
}

bool holds_calibrator_transit(const state::GroupRecord& g, const astro::Observatory& obs,
                              const catalog::VlaCalibratorCatalog& calibrators, const config::Config& cfg) {
  if (!g.pointing_dec_rad || !g.time_first_mjd || !g.time_last_mjd) return false;
  constexpr double kDeg = std::numbers::pi / 180;
  const double radius = cfg.get_double("conversion.calibrator_radius_deg") * kDeg;
  const double min_flux = cfg.get_double("conversion.calibrator_min_flux_jy");
  const double dec = *g.pointing_dec_rad;
  const double pad = 6.5 / astro::kSecondsPerDay;  // half of DSA-110's 12.9 s integration
  const double jd0 = *g.time_first_mjd + astro::kMjdOffset - pad;
  const double jd1 = *g.time_last_mjd + astro::kMjdOffset + pad;
  for (const auto& c : calibrators.calibrators()) {
    // At transit the separation is the declination difference to < 0.25 deg (transits.cc).
    if (std::abs(c.dec_rad - dec) > radius + 0.25 * kDeg) continue;
    if (!c.flux_20cm_jy || *c.flux_20cm_jy < min_flux) continue;
    for (double t : catalog::transits_between(obs, {c.ra_rad, c.dec_rad}, jd0, jd1)) {
      const auto pointing = obs.meridian_icrs(t, dec);
      if (sky::angular_distance(c.ra_rad, c.dec_rad, pointing.ra_rad, pointing.dec_rad) <= radius) return true;
    }
  }
  return false;
}

const char* to_string(Finding::Severity s) { return s == Severity::kError ? "error" : "warning"; }

std::string to_string(const Finding& f) { return fmt::format("{}: {}: {}", to_string(f.severity), f.stage, f.message); }

bool has_errors(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::kError; });
}

nlohmann::json to_json(const std::vector<Finding>& findings) {
  auto j = nlohmann::json::array();
  for (const auto& f : findings) {
    j.push_back({{"stage", f.stage}, {"severity", to_string(f.severity)}, {"message", f.message}});
  }
  return j;
}

void throw_if_errors(const std::vector<Finding>& findings) {
  std::string msg;
  int n = 0;
  for (const auto& f : findings) {
    if (f.severity != Severity::kError) continue;
    msg += fmt::format("\n  {}: {}", f.stage, f.message);
    ++n;
  }
  if (n > 0) throw ConfigError(fmt::format("preflight: the run cannot work ({} error{}):{}", n, n == 1 ? "" : "s", msg));
}

}  // namespace contimg::chain
