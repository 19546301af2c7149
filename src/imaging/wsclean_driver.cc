#include "imaging/wsclean_driver.h"

#include <cmath>
#include <deque>
#include <fstream>
#include <optional>

#include <sys/statvfs.h>

#include <fmt/format.h>

#include "common/constants.h"
#include "common/error.h"
#include "common/subprocess.h"
#include "config/config.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {
constexpr double kRadToArcsec = 180.0 / M_PI * 3600.0;
}  // namespace

WscleanSettings WscleanSettings::from_config(const config::Config& cfg) {
  WscleanSettings s;
  s.program = cfg.get_string("imaging.wsclean");
  s.field_deg = cfg.get_double("imaging.field_deg");
  s.cell_arcsec = cfg.get_double("imaging.cell_arcsec");
  s.pixels_per_beam = cfg.get_double("imaging.pixels_per_beam");
  s.baseline_averaging = cfg.get_double("imaging.baseline_averaging");
  s.briggs = cfg.get_double("imaging.briggs");
  s.niter = cfg.get_int("imaging.niter");
  s.auto_mask = cfg.get_double("imaging.auto_mask");
  s.auto_threshold = cfg.get_double("imaging.auto_threshold");
  s.mgain = cfg.get_double("imaging.mgain");
  s.wgridder_accuracy = cfg.get_double("imaging.wgridder_accuracy");
  s.channels_out = static_cast<int>(cfg.get_int("imaging.channels_out"));
  if (s.channels_out < 1) throw ConfigError("imaging.channels_out must be >= 1");
  s.threads = static_cast<int>(cfg.get_int("imaging.threads"));
  s.abs_mem_gb = cfg.get_double("imaging.abs_mem_gb");
  s.timeout = std::chrono::seconds(cfg.get_int("imaging.timeout_s"));
  if (s.program.empty()) throw ConfigError("imaging.wsclean must name a program");
  if (!(s.field_deg > 0 && s.field_deg <= 180)) throw ConfigError("imaging.field_deg must be in (0, 180]");
  if (s.cell_arcsec < 0) throw ConfigError("imaging.cell_arcsec must be >= 0 (0 = automatic)");
  if (!(s.pixels_per_beam >= 2)) throw ConfigError("imaging.pixels_per_beam must be >= 2");
  if (!(s.baseline_averaging >= 0)) throw ConfigError("imaging.baseline_averaging must be >= 0");
  if (s.niter < 0) throw ConfigError("imaging.niter must be >= 0");
  if (!(s.mgain > 0 && s.mgain <= 1)) throw ConfigError("imaging.mgain must be in (0, 1]");
  if (!(s.wgridder_accuracy >= 1e-6 && s.wgridder_accuracy <= 1e-2)) {
    throw ConfigError("imaging.wgridder_accuracy must be in [1e-6, 1e-2] (WSClean's useful range)");
  }
  if (s.auto_mask <= 0 || s.auto_threshold <= 0) {
    throw ConfigError("imaging.auto_mask and imaging.auto_threshold must be > 0");
  }
  if (s.threads < 0 || s.abs_mem_gb < 0) throw ConfigError("imaging.threads and imaging.abs_mem_gb must be >= 0");
  if (s.timeout.count() <= 0) throw ConfigError("imaging.timeout_s must be > 0");
  return s;
}

double cell_from_beam_arcsec(double bmin_rad, double pixels_per_beam) {
  if (!(bmin_rad > 0) || !(pixels_per_beam > 0)) {
    throw InputError(fmt::format("cell size: needs a positive beam and pixels per beam (got {} rad, {})", bmin_rad,
                                 pixels_per_beam));
  }
  const double cell = bmin_rad / pixels_per_beam * kRadToArcsec;
  const double rounded = std::floor(cell * 10.0) / 10.0;
  return rounded > 0 ? rounded : cell;
}

double baseline_averaging_lambda(double factor, double max_uv_m, double max_freq_hz, double integration_s) {
  if (!(factor > 0) || !(max_uv_m > 0) || !(max_freq_hz > 0) || !(integration_s > 0)) return 0;
  return factor * 2 * M_PI * (max_uv_m * max_freq_hz / kSpeedOfLight) * integration_s / kSiderealDayS;
}

int image_size_px(double field_deg, double cell_arcsec) {
  if (!(field_deg > 0) || !(cell_arcsec > 0)) {
    throw InputError(fmt::format("image size: field {} deg, cell {} arcsec", field_deg, cell_arcsec));
  }
  const int n = static_cast<int>(std::ceil(field_deg * 3600.0 / cell_arcsec));
  return n + (n % 2);
}

std::vector<std::string> wsclean_argv(const WscleanSettings& s, const fs::path& ms, const fs::path& prefix,
                                      const fs::path& temp_dir, double cell_arcsec, int size_px,
                                      double averaging_lambda) {
  std::vector<std::string> a = {s.program,
                                "-name", prefix.string(),
                                "-temp-dir", temp_dir.string(),
                                "-reorder",  // 16 SPWs: WSClean 3.1 cannot read them directly
                                "-data-column", "DATA",
                                "-pol", "I",
                                "-weight", "briggs", fmt::format("{}", s.briggs),
                                "-use-wgridder",
                                "-wgridder-accuracy", fmt::format("{}", s.wgridder_accuracy),
                                "-size", std::to_string(size_px), std::to_string(size_px),
                                "-scale", fmt::format("{}asec", cell_arcsec),
                                "-niter", std::to_string(s.niter),
                                "-mgain", fmt::format("{}", s.mgain),
                                "-auto-threshold", fmt::format("{}", s.auto_threshold)};
  if (s.auto_mask > 0) a.insert(a.end(), {"-auto-mask", fmt::format("{}", s.auto_mask)});
  if (s.channels_out > 1) {
    a.insert(a.end(), {"-channels-out", std::to_string(s.channels_out), "-join-channels", "-fit-spectral-pol", "2"});
  }
  if (s.niter == 0) a.push_back("-make-psf");  // else no PSF, hence no restoring beam
  else
    a.push_back("-no-dirty");  // nothing reads it (a 36 MB write per image of a full group)
  // The imaging MS is ours and temporary: nothing reads a MODEL_DATA written
  // back (a pass over every visibility), and baseline averaging needs it off.
  a.push_back("-no-update-model-required");
  if (averaging_lambda > 0) a.insert(a.end(), {"-baseline-averaging", fmt::format("{:.3f}", averaging_lambda)});
  if (s.threads > 0) a.insert(a.end(), {"-j", std::to_string(s.threads)});
  if (s.abs_mem_gb > 0) a.insert(a.end(), {"-abs-mem", fmt::format("{}", s.abs_mem_gb)});
  a.push_back(ms.string());
  return a;
}

fs::path wsclean_output(const fs::path& prefix, int channels_out, const std::string& kind) {
  return prefix.string() + (channels_out > 1 ? "-MFS-" : "-") + kind + ".fits";
}

std::string tail_of_file(const fs::path& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

namespace {

// A filesystem WSClean writes to (its log's, -temp-dir's, -name's) with
// almost no room left: its own message may not have reached the full log.
std::optional<fs::path> full_filesystem(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<fs::path> dirs = {log.parent_path()};
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-temp-dir") dirs.emplace_back(argv[i + 1]);
    if (argv[i] == "-name") dirs.push_back(fs::path(argv[i + 1]).parent_path());
  }
  for (const auto& d : dirs) {
    struct statvfs st{};
    if (d.empty() || ::statvfs(d.c_str(), &st) != 0) continue;
    if (static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < (4u << 20)) return d;
  }
  return std::nullopt;
}

}  // namespace

bool says_disk_full(const std::string& text) {
  return text.find("No space left on device") != std::string::npos ||
         text.find("ENOSPC") != std::string::npos || text.find("Disk quota exceeded") != std::string::npos;
}

void run_wsclean(const std::vector<std::string>& argv, std::chrono::seconds timeout, const fs::path& log,
                 const std::function<bool()>& cancel) {
  if (!find_in_path(argv.at(0))) {
    throw IoError(fmt::format("WSClean not found: \"{}\" is not in PATH (install Debian's wsclean or set imaging.wsclean)",
                              argv[0]));
  }
  ProcessOptions o;
  o.timeout = timeout;
  o.log_file = log;
  o.cancel = cancel;
  const ProcessResult r = run_process(argv, o);
  if (r.timed_out) {
    throw Error(fmt::format("WSClean timed out after {} s (imaging.timeout_s); log {}; last lines:\n{}",
                            timeout.count(), log.string(), tail_of_file(log, 15)));
  }
  if (r.exit_code != 0) {
    const std::string tail = tail_of_file(log, 15);
    const std::string how = r.term_signal ? fmt::format("killed by signal {}", r.term_signal)
                                          : r.exit_code < 0 ? std::string("could not run")
                                                            : fmt::format("exit status {}", r.exit_code);
    // A full disk is the environment's, retryable (exit 4), and said plainly.
    const auto full_dir = full_filesystem(argv, log);
    if (full_dir || says_disk_full(r.output) || says_disk_full(tail_of_file(log, 200))) {
      throw IoError(fmt::format("WSClean failed ({}): No space left on device (disk full{}) writing its temporary "
                                "files or products; log {}; last lines:\n{}",
                                how, full_dir ? " in " + full_dir->string() : std::string(), log.string(), tail));
    }
    throw Error(fmt::format("WSClean failed ({}); log {}; last lines:\n{}{}", how, log.string(), r.output, tail));
  }
}

}  // namespace contimg::imaging
