#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>
#include <utility>

#include "common/build_info.h"
#include "common/error.h"

extern char** environ;

namespace contimg::config {
namespace fs = std::filesystem;
namespace {

const KeyDef* find_key(const std::string& key) {
  const auto& keys = schema();
  auto it = std::find_if(keys.begin(), keys.end(), [&](const KeyDef& d) { return d.key == key; });
  return it == keys.end() ? nullptr : &*it;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<bool> parse_bool(const std::string& v) {
  const std::string l = lower(v);
  if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "no" || l == "off") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_int(const std::string& v) {
  std::int64_t out = 0;
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, out);
  if (ec != std::errc() || p != end || v.empty()) return std::nullopt;
  return out;
}

std::optional<double> parse_double(const std::string& v) {
  try {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(d)) return std::nullopt;
    return d;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kString: return "string";
    case Type::kInt: return "integer";
    case Type::kDouble: return "number";
    case Type::kBool: return "boolean";
    case Type::kPath: return "path";
  }
  return "?";
}

// Validates `raw` against the key's type and allowed values and returns its
// canonical text. `where` names the source (file:line, variable or flag).
std::string canonical(const KeyDef& def, const std::string& raw, const std::string& where) {
  auto bad = [&]() {
    return ConfigError(fmt::format("{}: {} must be a {}, got \"{}\"", where, def.key,
                                   type_name(def.type), raw));
  };
  auto outside = [&]() {
    return ConfigError(fmt::format("{}: {} = {} is outside the allowed range {}", where, def.key,
                                   raw, def.allowed.text()));
  };
  switch (def.type) {
    case Type::kBool: {
      auto b = parse_bool(raw);
      if (!b) throw bad();
      return *b ? "true" : "false";
    }
    case Type::kInt: {
      auto i = parse_int(raw);
      if (!i) throw bad();
      if (!def.allowed.admits(static_cast<double>(*i))) throw outside();
      return std::to_string(*i);
    }
    case Type::kDouble: {
      auto d = parse_double(raw);
      if (!d) throw bad();
      if (!def.allowed.admits(*d)) throw outside();
      return raw;
    }
    case Type::kString:
    case Type::kPath:
      if (!def.allowed.admits(raw)) {
        throw ConfigError(fmt::format("{}: {} must be one of {}, got \"{}\"", where, def.key,
                                      def.allowed.text(), raw));
      }
      return raw;
  }
  return raw;
}

// "file contimg.toml:3", "environment variable CONTIMG_X", "flag --set".
std::string describe_source(Source source, const std::string& origin) {
  switch (source) {
    case Source::kDefault: return "built-in default";
    case Source::kFile: return "file " + origin;
    case Source::kEnvironment: return "environment variable " + origin;
    case Source::kFlag: return "flag " + origin;
  }
  return origin;
}

std::string toml_value_text(const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point()) return fmt::format("{}", *node.value<double>());
  return {};
}

void flatten(const toml::table& table, const std::string& prefix,
             std::vector<std::tuple<std::string, std::string, std::string>>& out,
             const std::string& file) {
  for (const auto& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      flatten(*sub, key, out, file);
      continue;
    }
    const auto& src = node.source();
    const std::string where = fmt::format("{}:{}", file, src.begin.line);
    if (node.is_array() || node.is_date_time() || node.is_date() || node.is_time()) {
      throw ConfigError(fmt::format("{}: {} has an unsupported value type", where, key));
    }
    out.emplace_back(key, toml_value_text(node), where);
  }
}

}  // namespace

bool Allowed::admits(double v) const {
  if (min && (min_exclusive ? !(v > *min) : !(v >= *min))) return false;
  if (max && !(v <= *max)) return false;
  return true;
}

bool Allowed::admits(const std::string& word) const {
  return choices.empty() || std::find(choices.begin(), choices.end(), word) != choices.end();
}

std::string Allowed::text() const {
  if (!choices.empty()) return fmt::format("{}", fmt::join(choices, ", "));
  if (min && max) return fmt::format("{}{}, {}]", min_exclusive ? "(" : "[", *min, *max);
  if (min) return fmt::format("{} {}", min_exclusive ? ">" : ">=", *min);
  if (max) return fmt::format("<= {}", *max);
  return "any";
}

Allowed at_least(double min) { return Allowed{min, std::nullopt, false, {}}; }
Allowed above(double min) { return Allowed{min, std::nullopt, true, {}}; }
Allowed between(double min, double max) { return Allowed{min, max, false, {}}; }
Allowed above_up_to(double min, double max) { return Allowed{min, max, true, {}}; }
Allowed one_of(std::vector<std::string> words) {
  return Allowed{std::nullopt, std::nullopt, false, std::move(words)};
}

const std::vector<KeyDef>& schema() {
  static const std::vector<KeyDef> keys = {
      // Storage tiers (SPEC §8): raw input on HDD, products on SSD, scratch, tmpfs.
      {"paths.input_dir", Type::kPath, "/data/incoming",
       "Raw input tier (HDD): where the correlator writes *_sbNN.hdf5 files."},
      {"paths.stage_dir", Type::kPath, "/stage/dsa110-contimg",
       "Product tier (SSD): Measurement Sets, calibration tables, images."},
      {"paths.scratch_dir", Type::kPath, "/stage/dsa110-contimg/scratch",
       "Scratch tier: per-stage temporary working directories, removed on every exit path."},
      {"paths.tmpfs_dir", Type::kPath, "/dev/shm",
       "RAM-backed tier used to stage writes when it has room (empty disables tmpfs staging)."},
      {"paths.data_dir", Type::kPath, build::kDataDir,
       "Run-time data: station table, IERS tables, calibrator list (the repository's data/)."},
      {"paths.state_db", Type::kPath, "",
       "State database file; empty means <paths.stage_dir>/state/contimg.sqlite3."},
      // The state backend (docs/scale-out.md): PostgreSQL for several machines.
      {"state.db_url", Type::kString, "",
       "PostgreSQL URL of the state database (postgresql://user@host:port/dbname), shared by "
       "the workers of several machines; empty: the SQLite file paths.state_db. --db takes "
       "either."},
      // The budget a run hands to its stages (src/common/resources.h).
      {"resources.threads", Type::kInt, "0",
       "Threads the work of a run may use in all (stages size their pools and WSClean -j from "
       "it); 0 = this machine's cores.", at_least(0)},
      {"resources.memory_mb", Type::kInt, "0",
       "Memory the work of a run may use (WSClean -abs-mem unless imaging.abs_mem_gb is set); "
       "0 = 3/4 of this machine's memory.", at_least(0)},
      // The orchestrator: jobs, claims and provenance (docs/state.md).
      {"orchestrator.lease_s", Type::kDouble, "120",
       "A running job's claim lasts this long without a heartbeat; then another process may "
       "take the job over (a holder that died on this host is recognised at once).", above(0)},
      {"orchestrator.heartbeat_s", Type::kDouble, "30",
       "How often the holder of a running job renews its lease (less than lease_s).", above(0)},
      {"orchestrator.wait_poll_s", Type::kDouble, "1",
       "How often a run waiting for a job another process holds looks again.", above(0)},
      {"orchestrator.max_attempts", Type::kInt, "3",
       "Attempts of a job failing for a retryable reason (I/O, time-out, interrupted) before it "
       "is discarded.", at_least(1)},
      {"orchestrator.retry_backoff_s", Type::kDouble, "30",
       "A queued job that failed for a retryable reason is claimed again after this long, "
       "doubled per attempt (docs/scale-out.md).", at_least(0)},
      {"orchestrator.retry_backoff_max_s", Type::kDouble, "1800",
       "The cap of the retry backoff.", at_least(0)},
      {"orchestrator.untrusted_products", Type::kString, "move-aside",
       "A path at a product's final place that the state database has no record of: "
       "\"move-aside\" (to <out>/untrusted/) or \"fail\" (the stage fails and says so).",
       one_of({"move-aside", "fail"})},
      // The stream service (docs/service.md).
      {"stream.rescan_s", Type::kDouble, "60",
       "The service lists its input directory this often besides inotify (missed events, "
       "network file systems), and looks for groups re-queued by `contimg retry`.", above(0)},
      {"stream.settle_s", Type::kDouble, "2",
       "A new file's size and mtime must stay unchanged this long before its header is opened.",
       at_least(0)},
      {"stream.unreadable_after_s", Type::kDouble, "120",
       "A file unchanged this long whose header still does not open is registered as it is "
       "(invalid: its group fails naming it); until then it is retried.", at_least(0)},
      {"stream.group_timeout_s", Type::kDouble, "600",
       "A group short of subbands that has received no file for this long is closed: processed "
       "with stream.allow_incomplete and at least grouping.min_subbands, else skipped.", above(0)},
      {"stream.allow_incomplete", Type::kBool, "false",
       "Process a group closed by its time-out with its missing subbands flagged (as "
       "--allow-incomplete)."},
      {"stream.calibration_wait_s", Type::kDouble, "1800",
       "A science group with no valid calibration set waits this long for one (a calibrator "
       "transit still to come), then is calibrated by calibration.when_uncalibrated.", at_least(0)},
      {"stream.stop_timeout_s", Type::kDouble, "60",
       "After SIGTERM/SIGINT the running stages may finish within this time; then they are "
       "cancelled (cleanly) and the service exits 0.", at_least(0)},
      {"stream.workers", Type::kInt, "1",
       "Groups in work at once: 1 runs one segment at a time with the whole resources budget; 2 "
       "lets one group convert and flag while another is imaged, each with half (no gain on 2 "
       "cores: docs/perf.md).", between(1, 2)},
      {"stream.min_free_gb", Type::kDouble, "5",
       "A stage does not start unless each tier it writes keeps this much free space beyond "
       "its estimate (the group waits and `contimg status` says so).", at_least(0)},
      {"stream.retry_backoff_s", Type::kDouble, "30",
       "A retryable failure (I/O, time-out) is retried after this long, doubled per attempt, "
       "until orchestrator.max_attempts.", at_least(0)},
      // Prometheus metrics (docs/scale-out.md "Metrics").
      {"metrics.listen", Type::kString, "127.0.0.1:0",
       "Where contimg stream and contimg worker serve /metrics, /livez and /readyz (host:port; port "
       "0 = a free one, logged; empty = no server). Loopback by default."},
      // Queue workers (docs/scale-out.md "Workers").
      {"worker.poll_s", Type::kDouble, "5",
       "An idle worker looks for a job at least this often (a NOTIFY from the database wakes it "
       "sooner; the table is the truth).", above(0)},
      {"worker.reap_s", Type::kDouble, "30",
       "Every worker re-queues the jobs whose lease expired (their holder died) this often.",
       above(0)},
      {"worker.calibration_wait_s", Type::kDouble, "1800",
       "A science group's applycal waits this long for a calibrator transit of its output tree "
       "still queued or running to be solved, then calibration.when_uncalibrated decides.",
       at_least(0)},
      {"worker.defer_s", Type::kDouble, "20",
       "An applycal that must wait for a solve is put back in the queue for this long (no attempt "
       "used).", above(0)},
      // Retention (docs/service.md "Retention"): off by default.
      {"retention.ms_hours", Type::kDouble, "0",
       "Remove a processed group's MS this long after it was made (0 = keep; the UVH5 files remain "
       "and a run re-makes it).",
       at_least(0)},
      {"retention.images_hours", Type::kDouble, "0",
       "Remove a processed group's images (FITS, quick-look) this long after they were made (0 = "
       "keep). Catalogues, reports and calibration tables are kept.",
       at_least(0)},
      {"retention.keep_calibrator_ms", Type::kBool, "true",
       "Keep the MS of every calibrator transit whose calibration set is registered."},
      {"retention.check_s", Type::kDouble, "600", "The stream service applies retention this often.",
       above(0)},
      // Grouping subband files into observations (SPEC §3).
      {"grouping.tolerance_s", Type::kDouble, "60",
       "A group takes the files whose filename timestamps lie within this many seconds of its "
       "first file.", at_least(0)},
      {"grouping.expected_subbands", Type::kInt, "16",
       "Subband codes 00..N-1 a complete group has.", between(1, 16)},
      {"grouping.min_subbands", Type::kInt, "12",
       "Fewest subbands an incomplete group may have to be converted with --allow-incomplete.", between(1, 16)},
      {"grouping.pointing_tolerance_deg", Type::kDouble, "1.0",
       "Subbands whose pointing Dec differs from their group's by more than this are excluded.",
       above_up_to(0, 180)},
      // HDF5 chunk-cache profiles (SPEC §4, seed 'HDF5 I/O Optimization').
      {"hdf5.cache_metadata_bytes", Type::kInt, "1048576",
       "Chunk cache of the 'metadata' profile (header peeks).", at_least(0)},
      {"hdf5.cache_standard_bytes", Type::kInt, "16777216",
       "Chunk cache of the 'standard' profile (sequential block reads).", at_least(0)},
      {"hdf5.cache_random_bytes", Type::kInt, "67108864",
       "Chunk cache of the 'random' profile (strided or random access).", at_least(0)},
      {"hdf5.cache_slots", Type::kInt, "12421",
       "Hash slots of every chunk cache (a prime ~100x the chunks a cache holds).", at_least(1)},
      {"hdf5.plugin_dir", Type::kPath, build::kHdf5PluginDir,
       "Directory of the HDF5 filter plugins (LZF, bitshuffle), prepended to HDF5's search path "
       "at start-up."},
      // Conversion (SPEC §4, §8).
      {"conversion.parallel_io", Type::kBool, "true",
       "Read subbands with several threads, ahead of the MS writer."},
      {"conversion.io_batch_size", Type::kInt, "4", "Subband reads in flight at once.", at_least(1)},
      {"conversion.max_workers", Type::kInt, "0", "Reader threads; 0 = all cores.", at_least(0)},
      {"conversion.merge_spws", Type::kBool, "false",
       "Write one 768-channel spectral window instead of 16."},
      {"conversion.stage_to_tmpfs", Type::kBool, "false",
       "Stage the MS in paths.tmpfs_dir when it has room for twice the MS (off: staging beside the output "
       "measured 2-3x faster, docs/perf.md)."},
      {"conversion.stage_dir", Type::kPath, "",
       "Staging directory; empty = beside the output (or tmpfs, with conversion.stage_to_tmpfs, when it has room)."},
      {"conversion.durable", Type::kBool, "true",
       "fsync the MS before the rename that publishes it (writeback started while it is written), so that a "
       "published MS survives a power cut."},
      {"conversion.preallocate", Type::kBool, "true",
       "Allocate the MS's large column files at their final size before writing them (faster "
       "writeback on ext4, docs/perf.md)."},
      {"conversion.calibrator_radius_deg", Type::kDouble, "1.0",
       "A calibrator within this distance of a field centre can rename that field.", between(0, 180)},
      {"conversion.calibrator_min_flux_jy", Type::kDouble, "1.0",
       "Only calibrators at least this bright at 20 cm rename fields.", at_least(0)},
      // Flagging (docs/flagging.md).
      {"flagging.strategy", Type::kPath, "",
       "AOFlagger Lua strategy; empty = <paths.data_dir>/strategies/dsa110-lband.lua."},
      {"flagging.threads", Type::kInt, "0", "Flagging threads (one AOFlagger strategy each); 0 = all cores.", at_least(0)},
      {"flagging.dead_fraction", Type::kDouble, "0.8",
       "An antenna with more than this fraction of its cross-correlations flagged is dead.", between(0, 1)},
      {"flagging.dead_auto_ratio", Type::kDouble, "0.1",
       "An antenna whose mean autocorrelation is below this fraction of the array median is dead.", between(0, 1)},
      {"flagging.memory_mb", Type::kInt, "2048",
       "Visibility buffer size: baselines are flagged in chunks that fit.", at_least(1)},
      // Calibration (SPEC §5; docs/calibration.md).
      {"calibration.gain_interval_s", Type::kDouble, "0",
       "Gain solution interval, s; 0 = one integration.", at_least(0)},
      {"calibration.min_snr", Type::kDouble, "5", "Solutions with a lower SNR are flagged.", at_least(0)},
      {"calibration.refant", Type::kString, "",
       "Reference antenna (name or index); empty = automatic (outrigger with most unflagged data)."},
      {"calibration.max_iterations", Type::kInt, "100", "StefCal iterations per solution at most.", at_least(1)},
      {"calibration.tolerance", Type::kDouble, "1e-8",
       "StefCal convergence: relative change of the gain vector.", above(0)},
      {"calibration.max_flagged_fraction", Type::kDouble, "0.25",
       "QA: a set fails when more of its bandpass solutions are flagged.", between(0, 1)},
      {"calibration.min_antennas", Type::kInt, "10", "QA: a set fails with fewer antennas solved.", at_least(1)},
      {"calibration.min_median_snr", Type::kDouble, "5",
       "QA: a set fails when the median bandpass SNR is lower.", at_least(0)},
      {"calibration.min_signal_explained", Type::kDouble, "0.75",
       "Model QA: a set fails when its model explains less of the data's sky power (docs/calibration.md).",
       between(0, 1)},
      {"calibration.model_min_signal_to_noise", Type::kDouble, "0.02",
       "Model QA: below this sky-to-noise power ratio the explained fraction is not gated.", at_least(0)},
      {"calibration.warn_reduced_chi2", Type::kDouble, "1.5",
       "Model QA: warn (grade B) when the residual reduced chi2 is higher.", at_least(0)},
      {"calibration.max_reduced_chi2", Type::kDouble, "0",
       "Model QA: fail when the residual reduced chi2 is higher; 0 = no such gate.", at_least(0)},
      {"calibration.min_source_fraction", Type::kDouble, "0.5",
       "Model QA, per source: a set fails when the calibrated data hold less than this fraction of a model "
       "source's flux, or more than its inverse, measured to source_fraction_max_sigma (docs/calibration.md); "
       "0 = no such gate.",
       between(0, 1)},
      {"calibration.source_fraction_max_sigma", Type::kDouble, "0.1",
       "Model QA, per source: only sources whose fraction is measured to this noise or better are gated.",
       above(0)},
      {"calibration.history_sets", Type::kInt, "5",
       "History QA: the most recent earlier passed sets a new set is compared with.", at_least(1)},
      {"calibration.history_warn_scale_jump", Type::kDouble, "0.05",
       "History QA: warn when the median bandpass amplitude ratio to the history is further from 1.",
       between(0, 10)},
      {"calibration.history_fail_scale_jump", Type::kDouble, "0.10",
       "History QA: fail when the median bandpass amplitude ratio to the history is further from 1.",
       between(0, 10)},
      {"calibration.history_warn_antenna_jump", Type::kDouble, "0.20",
       "History QA: warn about antennas whose amplitude ratio departs more from the array's.", between(0, 10)},
      {"calibration.history_warn_shape_jump", Type::kDouble, "0.05",
       "History QA: warn when a SPW's relative bandpass level changes more.", between(0, 10)},
      {"calibration.history_fail_shape_jump", Type::kDouble, "0.20",
       "History QA: fail when a SPW's relative bandpass level changes more.", between(0, 10)},
      {"calibration.history_warn_phase_rms_factor", Type::kDouble, "3",
       "History QA: warn when the gain phase rms exceeds this many times the history's (and 5 deg).",
       at_least(1)},
      {"calibration.transit_policy", Type::kString, "dominant",
       "Which calibrator transits the chain solves: dominant (the calibrator's apparent flux dominates the "
       "catalogue sources in the beam; flux standards always) or all.",
       one_of({"dominant", "all"})},
      {"calibration.transit_min_fraction", Type::kDouble, "0.5",
       "Transit policy: the calibrator's share of the apparent catalogue flux in the beam needed to solve.",
       between(0, 1)},
      {"calibration.field_model_min_jy", Type::kDouble, "0.05",
       "Field model: other catalogue sources at least this bright (apparent, 1.4 GHz) join the calibrator's "
       "model when a reference catalogue is configured.",
       at_least(0)},
      {"calibration.history_warn_position_arcsec", Type::kDouble, "10",
       "History QA: warn when the bandpass phases against the history fit a model-position shift this "
       "large.",
       at_least(0)},
      {"calibration.validity_hours", Type::kDouble, "12",
       "A set is valid this long before and after its calibrator MS.", above(0)},
      {"calibration.warn_hours", Type::kDouble, "6",
       "Warn when the set applied is further than this from the target MS.", at_least(0)},
      {"calibration.flux_scale_tolerance", Type::kDouble, "0.05",
       "Chain flux-scale check without a reference catalogue: warn when a calibrator transit calibrated "
       "with another transit's set is further than this fraction from its catalogue flux.",
       between(0, 1)},
      {"calibration.write_corrected_data", Type::kBool, "true",
       "The chain writes CORRECTED_DATA into the group's MS (SPEC 5; what CASA users open). false: the set is "
       "applied while the imaging MS is written from DATA and CORRECTED_DATA is not written (docs/perf.md)."},
      {"calibration.apply_in_image_pass", Type::kBool, "true",
       "The chain applies the set in the image stage's one pass over DATA, which writes CORRECTED_DATA (with "
       "calibration.write_corrected_data) and the imaging MS together; applycal only chooses and checks the "
       "set. false: applycal writes CORRECTED_DATA in a pass of its own, which the image stage reads again "
       "(docs/calibration.md). `contimg applycal` always writes in its own pass."},
      {"calibration.when_uncalibrated", Type::kString, "skip",
       "No valid set for an MS: skip (image DATA) or fail.", one_of({"skip", "fail"})},
      {"calibration.caltables_dir", Type::kPath, "",
       "Directory of the calibration tables and plots; empty = beside the MS."},
      // Imaging (SPEC §6).
      {"imaging.field_deg", Type::kDouble, "3.5", "Image width and height, deg.", above_up_to(0, 180)},
      {"imaging.cell_arcsec", Type::kDouble, "0",
       "Pixel size, arcsec; 0 = the predicted PSF main lobe's minor axis / imaging.pixels_per_beam, rounded down to "
       "0.1 arcsec (docs/imaging.md, cell size).", at_least(0)},
      {"imaging.baseline_averaging", Type::kDouble, "0.5",
       "WSClean baseline-dependent averaging, in units of the uv track of the longest baseline in one integration "
       "(docs/imaging.md); 0 = off.", at_least(0)},
      {"imaging.pixels_per_beam", Type::kDouble, "4", "Pixels across the PSF main lobe's minor axis when the cell is automatic.",
       at_least(2)},
      {"imaging.briggs", Type::kDouble, "0", "Briggs robustness (WSClean -weight briggs).", between(-2, 2)},
      {"imaging.niter", Type::kInt, "100000", "Maximum CLEAN iterations (WSClean -niter).", at_least(0)},
      {"imaging.auto_mask", Type::kDouble, "5", "WSClean -auto-mask (sigma); 5, not the SPEC's 3: see docs/imaging.md (auto-mask).", above(0)},
      {"imaging.auto_threshold", Type::kDouble, "0.5", "WSClean -auto-threshold (sigma).", above(0)},
      {"imaging.mgain", Type::kDouble, "0.8", "WSClean -mgain.", above_up_to(0, 1)},
      {"imaging.wgridder_accuracy", Type::kDouble, "0.001",
       "WSClean -wgridder-accuracy (WSClean's default 1e-4): 1e-3 grids 12% faster with the same residual "
       "noise and sources (docs/perf.md).", between(1e-6, 1e-2)},
      {"imaging.channels_out", Type::kInt, "1",
       "> 1: wideband deconvolution (WSClean -channels-out N -join-channels -fit-spectral-pol 2) for "
       "sources whose spectra show over the band; the products are the MFS images (docs/imaging.md 3a).",
       at_least(1)},
      {"imaging.threads", Type::kInt, "0", "WSClean -j; 0 = all cores.", at_least(0)},
      {"imaging.abs_mem_gb", Type::kDouble, "0", "WSClean -abs-mem (GB); 0 = WSClean's default.", at_least(0)},
      {"imaging.timeout_s", Type::kInt, "7200", "Kill WSClean after this many seconds.", at_least(1)},
      {"imaging.wsclean", Type::kString, "wsclean", "The WSClean program (searched in PATH)."},
      {"imaging.data_column", Type::kString, "auto",
       "auto (CORRECTED_DATA when present, else DATA), DATA or CORRECTED_DATA.", one_of({"auto", "DATA", "CORRECTED_DATA"})},
      {"imaging.phase_centre", Type::kString, "",
       "\"RA,DEC\" (deg, ICRS) common phase centre; empty = the meridian at the group's mid time."},
      {"imaging.merge_spws", Type::kBool, "true",
       "The imaging MS holds one spectral window with every channel in frequency order (WSClean grids each "
       "SPW apart: 16 SPWs cost 2.5x the time, docs/perf.md); false = the group MS's SPWs."},
      {"imaging.max_channel_width_khz", Type::kDouble, "1000",
       "Channels of the imaging MS are averaged (after re-phasing) to at most this width; 0 = native. "
       "1000: 4 of DSA-110's 244 kHz channels, < 0.5% peak loss at the field's edge (docs/imaging.md).", at_least(0)},
      {"imaging.pb_cutoff", Type::kDouble, "0.2", "PB-corrected pixels where the beam is below this fraction of its peak are NaN.", between(0, 1)},
      {"imaging.keep_ms", Type::kBool, "false", "Keep the re-phased imaging MS in the products directory."},
      {"imaging.drift_correction", Type::kBool, "true",
       "Correct bright sources for their drift through the primary beam: a first WSClean pass finds them, "
       "their time-variable beam is subtracted from the imaging MS, then the full run (docs/imaging.md 3a)."},
      {"imaging.drift_subtract", Type::kBool, "false",
       "With the drift correction, subtract the bright components in the inner half of the image whole (not "
       "only their drift) and restore them into the run's model and image afterwards (WSClean -restore): fewer "
       "major cycles, measured less faithful (docs/imaging.md 3a)."},
      {"imaging.drift_threshold", Type::kDouble, "10",
       "WSClean -auto-threshold (sigma) of the bright-source pass of the drift correction (10: 0 spurious "
       "detections where 30 left 2, docs/imaging.md 3a).", above(0)},
      {"imaging.drift_max_components", Type::kInt, "500",
       "At most this many of the bright-source pass's CLEAN components (the brightest) are corrected.", at_least(1)},
      // Logging and progress.
      {"logging.level", Type::kString, "info", "trace, debug, info, warn, error or off.", one_of({"trace", "debug", "info", "warn", "error", "off"})},
      {"logging.format", Type::kString, "text",
       "text (human) or json (one JSON object per line).", one_of({"text", "json"})},
      {"logging.file", Type::kPath, "", "Also append log lines to this file when set."},
      {"logging.progress", Type::kString, "auto",
       "auto (bar on a terminal, log lines otherwise), bar, log or quiet.", one_of({"auto", "bar", "log", "quiet"})},
      {"logging.progress_interval_s", Type::kDouble, "10",
       "Seconds between progress log lines when not drawing a bar.", above(0)},
      // Validation (SPEC §7; docs/validation.md).
      {"validation.detect_sigma", Type::kDouble, "5",
       "Islands are seeded by pixels at least this many sigma above the background.", above(0)},
      {"validation.island_sigma", Type::kDouble, "3", "Islands grow over pixels at least this many sigma.", above(0)},
      {"validation.max_components", Type::kInt, "4", "Gaussians fitted per island at most.", at_least(1)},
      {"validation.rms_box_beams", Type::kDouble, "20",
       "Side of the background/noise box in restoring-beam major axes (grid step = box / 4).", above(0)},
      {"validation.match_radius_arcsec", Type::kDouble, "10", "Cross-match radius.", above(0)},
      {"validation.astrometry_warn_arcsec", Type::kDouble, "2.5",
       "Warn when the mean or RMS astrometric offset exceeds this.", at_least(0)},
      {"validation.astrometry_fail_arcsec", Type::kDouble, "5",
       "Fail when the mean or RMS astrometric offset exceeds this.", at_least(0)},
      {"validation.flux_ratio_warn", Type::kDouble, "0.10",
       "Warn when the clipped median measured/reference flux ratio deviates from 1 by more.", at_least(0)},
      {"validation.flux_ratio_fail", Type::kDouble, "0.20",
       "Fail when the clipped median flux ratio deviates from 1 by more.", at_least(0)},
      {"validation.flux_clip_sigma", Type::kDouble, "3", "Sigma clipping of the flux ratios.", above(0)},
      {"validation.completeness_min_flux_jy", Type::kDouble, "0.010",
       "Completeness counts reference sources at least this bright (at the image frequency).", at_least(0)},
      {"validation.completeness_fail", Type::kDouble, "0.70", "Fail below this completeness.", between(0, 1)},
      {"validation.qa_min_snr", Type::kDouble, "10",
       "Astrometry and flux statistics use matched detections at least this significant.", at_least(0)},
      {"validation.false_rate_warn", Type::kDouble, "0.20",
       "Warn when more than this fraction of detections has no reference counterpart.", between(0, 1)},
      {"validation.reference_catalogue", Type::kPath, "",
       "Reference: sky-model/truth JSON, NVSS FITS/CSV, or a store from `contimg catalog import`."},
      {"validation.reference_spectral_index", Type::kDouble, "-0.7",
       "Spectral index that scales catalogue (1.4 GHz) fluxes to the image frequency.", between(-5, 5)},
      // Science products: forced photometry, association, variability (issue 15; docs/science-products.md).
      {"photometry.in_chain", Type::kBool, "true", "Run the photometry stage after validate in the chain."},
      {"photometry.box_beams", Type::kDouble, "1.5",
       "Pixels within this many restoring-beam major FWHMs of a position enter its forced fit.", above(0)},
      {"photometry.cluster_beams", Type::kDouble, "2",
       "Positions closer than this many beam FWHMs are solved jointly (0 = never).", at_least(0)},
      {"photometry.noise_correlation", Type::kString, "beam",
       "Noise correlation the flux errors assume: beam (real images) or white (independent pixels).",
       one_of({"beam", "white"})},
      {"photometry.blind_match_beams", Type::kDouble, "1",
       "A blind detection within this many beam FWHMs of a measured position is that position's detection.",
       above(0)},
      {"photometry.association", Type::kString, "deruiter",
       "Association of blind detections with the catalogue: deruiter or fixed.", one_of({"deruiter", "fixed"})},
      {"photometry.association_radius_arcsec", Type::kDouble, "10", "Fixed association radius.", above(0)},
      {"photometry.deruiter_radius", Type::kDouble, "5.68", "Largest de Ruiter radius of a match.", above(0)},
      {"photometry.beamwidth_limit", Type::kDouble, "1.5",
       "de Ruiter candidates lie within this many half restoring-beam major axes.", above(0)},
      {"photometry.systematic_arcsec", Type::kDouble, "1",
       "Systematic position error added in quadrature to every position (association).", at_least(0)},
      {"photometry.new_source_sigma", Type::kDouble, "5",
       "A detection without counterpart is new when its flux / the lowest earlier noise at its position is "
       "at least this.", above(0)},
      {"photometry.min_measurements", Type::kInt, "3", "Variability candidates need this many measurements.",
       at_least(2)},
      {"photometry.eta_sigma", Type::kDouble, "3",
       "eta cut: clipped median + this many clipped sigma of log10(eta) over the field.", above(0)},
      {"photometry.v_sigma", Type::kDouble, "3",
       "V cut: clipped median + this many clipped sigma of log10(V) over the field.", above(0)},
      {"photometry.vs_min", Type::kDouble, "4.3", "Two-epoch |Vs| of a candidate pair (Mooley et al. 2016).", above(0)},
      {"photometry.m_min", Type::kDouble, "0.26", "Two-epoch |m| of a candidate pair (Mooley et al. 2016).", above(0)},
      // Mosaics (issue 15; docs/science-products.md "Mosaics").
      {"mosaic.pb_cutoff", Type::kDouble, "0.1",
       "Pixels of an input whose primary beam is below this do not enter the mosaic.", above_up_to(0, 1)},
      {"mosaic.cell_arcsec", Type::kDouble, "0", "Mosaic pixel size (arcsec); 0 = the smallest input pixel.",
       at_least(0)},
  };
  return keys;
}

std::string env_name(const std::string& key) {
  std::string out = "CONTIMG_";
  for (char c : key) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const char* to_string(Source s) {
  switch (s) {
    case Source::kDefault: return "default";
    case Source::kFile: return "file";
    case Source::kEnvironment: return "environment";
    case Source::kFlag: return "flag";
  }
  return "?";
}

std::map<std::string, std::string> from_process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("CONTIMG_", 0) != 0) continue;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

void Config::set(const std::string& key, const std::string& raw, Source source,
                 const std::string& origin) {
  const KeyDef* def = find_key(key);
  if (!def) {
    throw ConfigError(fmt::format("{}: unknown configuration key \"{}\" (see docs/configuration.md)",
                                  origin, key));
  }
  entries_[key] = Entry{canonical(*def, raw, describe_source(source, origin)), source, origin};
}

Config Config::defaults() {
  Config c;
  for (const auto& def : schema()) c.set(def.key, def.default_value, Source::kDefault, "built-in");
  return c;
}

Config Config::load(const LoadOptions& options) {
  Config c = defaults();
  std::optional<fs::path> file = options.file;
  if (!file) {
    if (auto it = options.environment.find("CONTIMG_CONFIG"); it != options.environment.end() &&
                                                              !it->second.empty()) {
      file = it->second;
    }
  }
  if (file) {
    if (!fs::exists(*file)) throw ConfigError("configuration file not found: " + file->string());
    toml::table table;
    try {
      table = toml::parse_file(file->string());
    } catch (const toml::parse_error& e) {
      throw ConfigError(fmt::format("{}:{}: {}", file->string(), e.source().begin.line,
                                    std::string(e.description())));
    }
    std::vector<std::tuple<std::string, std::string, std::string>> flat;
    flatten(table, "", flat, file->string());
    for (const auto& [key, value, where] : flat) c.set(key, value, Source::kFile, where);
    c.file_ = file;
  }
  for (const auto& def : schema()) {
    if (auto it = options.environment.find(env_name(def.key)); it != options.environment.end()) {
      c.set(def.key, it->second, Source::kEnvironment, it->first);
    }
  }
  for (const auto& [name, value] : options.environment) {
    if (name == "CONTIMG_CONFIG") continue;
    const bool known = std::any_of(schema().begin(), schema().end(),
                                   [&](const KeyDef& d) { return env_name(d.key) == name; });
    if (!known && name.rfind("CONTIMG_", 0) == 0) {
      throw ConfigError(fmt::format("environment variable {} names no configuration key "
                                    "(see docs/configuration.md)", name));
    }
  }
  for (const auto& o : options.overrides) c.set(o.key, o.value, Source::kFlag, o.flag);
  c.check_relations();
  return c;
}

// Ranges between keys, checked once every source is applied.
void Config::check_relations() const {
  const auto min_sb = get_int("grouping.min_subbands");
  const auto expected = get_int("grouping.expected_subbands");
  if (min_sb > expected) {
    const auto& a = entry("grouping.min_subbands");
    const auto& b = entry("grouping.expected_subbands");
    throw ConfigError(fmt::format(
        "{}: grouping.min_subbands = {} exceeds grouping.expected_subbands = {} ({}): "
        "allowed range [1, grouping.expected_subbands]",
        describe_source(a.source, a.origin), min_sb, expected, describe_source(b.source, b.origin)));
  }
}

Config Config::with_override(const Override& o) const {
  Config c = *this;
  c.set(o.key, o.value, Source::kFlag, o.flag);
  c.check_relations();
  return c;
}

const Entry& Config::entry(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) throw ConfigError("unknown configuration key \"" + key + "\"");
  return it->second;
}

std::string Config::get_string(const std::string& key) const { return entry(key).value; }

namespace {
// Values were validated against the schema on load, so a failure here means
// the caller asked for a key as the wrong type: a programming error, named.
template <typename T>
T typed_value(const std::optional<T>& v, const std::string& key, const char* type) {
  if (!v) throw std::logic_error("configuration key \"" + key + "\" is not a " + type);
  return *v;
}
}  // namespace

std::int64_t Config::get_int(const std::string& key) const {
  return typed_value(parse_int(entry(key).value), key, "integer");
}

double Config::get_double(const std::string& key) const {
  return typed_value(parse_double(entry(key).value), key, "number");
}

bool Config::get_bool(const std::string& key) const {
  return typed_value(parse_bool(entry(key).value), key, "boolean");
}

fs::path Config::get_path(const std::string& key) const { return entry(key).value; }

nlohmann::json Config::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, e] : entries_) {
    nlohmann::json value;
    switch (find_key(key)->type) {
      case Type::kInt: value = get_int(key); break;
      case Type::kDouble: value = get_double(key); break;
      case Type::kBool: value = get_bool(key); break;
      default: value = e.value;
    }
    out[key] = {{"value", value}, {"source", to_string(e.source)}, {"origin", e.origin}};
  }
  return out;
}

}  // namespace contimg::config
