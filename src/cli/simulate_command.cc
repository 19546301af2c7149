// `contimg simulate OUT_DIR`: writes one simulated group of subband files in
// the SPEC §2 layout plus its truth file (SPEC §10).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fstream>

#include "astro/site_data.h"
#include "cli/app.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "astro/time.h"
#include "catalog/vla_calibrators.h"
#include "simulation/calibrator_transit.h"
#include "simulation/simulator.h"

namespace contimg::cli {
namespace {

struct SimulateOptions {
  std::string out_dir;
  std::string size = "full";
  std::string compression = "none";
  std::string sky_file;
  std::string vla_calibrator;  // --calibrator NAME
  std::string date;            // --date, with --calibrator NAME
  bool field_calibrators = true;  // --[no-]field-calibrators, with --calibrator NAME
  simulation::SimulationSpec spec;
};

constexpr int kDefaultSkySources = 5;

// Presets: "tiny" for tests (seconds), "small" for quick looks, "full" = SPEC §2.
void apply_size(simulation::SimulationSpec& s, const std::string& size, const CLI::App& cmd) {
  auto unset = [&](const char* opt) { return cmd.count(opt) == 0; };
  if (size == "full") return;
  if (size == "tiny") {
    if (unset("--nants")) s.nants = 6;
    if (unset("--ntimes")) s.ntimes = 4;
    if (unset("--nchan")) s.nchan = 4;
    if (unset("--nsubbands")) s.nsubbands = 16;
    return;
  }
  if (size == "small") {
    if (unset("--nants")) s.nants = 24;
    if (unset("--ntimes")) s.ntimes = 24;
    if (unset("--nchan")) s.nchan = 12;
    return;
  }
  throw ConfigError("--size must be tiny, small or full, got \"" + size + "\"");
}

// Without any sky option the group would hold only zeros (cross-correlations
// of an empty sky, no noise), which no stage can flag, calibrate or image. So
// the default sky is a few point sources bright enough for the 6-antenna tiny
// preset to image, with DSA-110's radiometer noise unless --noise is given.
// Any of --sky, --calibrator or --random-sources means the user chose the sky.
void apply_default_sky(simulation::SimulationSpec& s, const CLI::App& cmd) {
  auto given = [&](const char* opt) { return cmd.count(opt) > 0; };
  if (given("--sky") || given("--calibrator") || given("--random-sources")) return;
  s.random_sources = kDefaultSkySources;
  if (!given("--random-min")) s.random_min_jy = 1.0;
  if (!given("--random-max")) s.random_max_jy = 5.0;
  // SEFD ~7000 Jy / sqrt(2 x 244 kHz x 12.9 s) per real/imag (as `demo`).
  if (!given("--noise")) s.noise_jy = 2.8;
}

}  // namespace

void register_simulate_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<SimulateOptions>();
  auto& s = o->spec;
  auto* cmd = app.add_subcommand("simulate",
                                 "Write a simulated observation (16 UVH5 subband files + truth)");
  cmd->add_option("out_dir", o->out_dir, "Output directory")->required();
  cmd->add_option("--size", o->size, "Preset: tiny (tests), small, full (SPEC size)")->capture_default_str();
  cmd->add_option("--start", s.start_utc, "UTC start = sb00 file name (group id)")->capture_default_str();
  cmd->add_option("--dec", s.pointing_dec_deg, "Pointing declination, deg")->capture_default_str();
  cmd->add_option("--nants", s.nants, "Active antennas (2..117)")->capture_default_str();
  cmd->add_option("--ntimes", s.ntimes, "Integrations")->capture_default_str();
  cmd->add_option("--nsubbands", s.nsubbands, "Subbands in the band (16 = SPEC)")->capture_default_str();
  cmd->add_option("--nchan", s.nchan, "Channels per subband (48 = SPEC)")->capture_default_str();
  cmd->add_option("--subbands", s.subbands, "Write only these subbands (e.g. to make incomplete groups)");
  cmd->add_option("--jitter", s.jitter_s, "Max filename-timestamp jitter of sb01..15, s")->capture_default_str();
  cmd->add_option("--noise", s.noise_jy, "Thermal noise rms per real/imag, Jy")->capture_default_str();
  cmd->add_option("--gain-amp", s.gain_amp_rms, "Gain amplitude scatter (fraction)")->capture_default_str();
  cmd->add_option("--gain-phase", s.gain_phase_rms_deg, "Gain phase scatter, deg")->capture_default_str();
  cmd->add_option("--bandpass-ripple", s.bandpass_ripple, "Bandpass ripple (fraction)")->capture_default_str();
  cmd->add_option("--delay-rms", s.delay_rms_ns, "Residual delay scatter, ns")->capture_default_str();
  cmd->add_flag("!--no-gains", s.apply_gains, "Unit gains and flat bandpasses");
  cmd->add_option("--dead", s.dead_stations, "Station numbers (1..117) with no signal");
  cmd->add_option("--rfi-bursts", s.rfi_bursts, "Number of RFI bursts")->capture_default_str();
  cmd->add_option("--rfi-amplitude", s.rfi_amplitude_jy, "RFI burst amplitude, Jy")->capture_default_str();
  cmd->add_option("--calibrator", o->vla_calibrator,
                  "Alone: an anonymous calibrator (SIMCAL) transiting mid-group on the pointing Dec. "
                  "With NAME (3C286, J1331+3030, ...): that VLA calibrator with its spectrum, the pointing "
                  "at its Dec and the start time set so it transits mid-group")
      ->expected(0, 1);
  cmd->add_option("--date", o->date, "UTC day (YYYY-MM-DD) of the --calibrator NAME transit "
                                     "(default: the day of --start)");
  cmd->add_flag("--field-calibrators,!--no-field-calibrators", o->field_calibrators,
                "With --calibrator NAME: also the other VLA calibrators within 3.5 deg of it (the known "
                "sources of its field, which the calibration's field model holds; default on)");
  cmd->add_option("--cal-flux", s.calibrator_flux_jy, "Calibrator flux, Jy")->capture_default_str();
  cmd->add_option("--random-sources", s.random_sources,
                  "Random point sources in the beam (default without --sky/--calibrator: 5 of 1-5 Jy, "
                  "noise 2.8 Jy)")
      ->capture_default_str();
  cmd->add_option("--random-min", s.random_min_jy, "Faintest random source, Jy")->capture_default_str();
  cmd->add_option("--random-max", s.random_max_jy, "Brightest random source, Jy")->capture_default_str();
  cmd->add_option("--count-slope", s.random_count_slope,
                  "Random fluxes follow dN/dS ~ S^-SLOPE (1 = log-uniform, 2.5 = Euclidean counts)")
      ->capture_default_str();
  cmd->add_option("--sky", o->sky_file, "Sky model JSON {\"sources\": [{ra_deg, dec_deg, flux_jy, ...}]}")
      ->check(CLI::ExistingFile);
  cmd->add_option("--compression", o->compression, "none, gzip, lzf, bitshuffle")->capture_default_str();
  cmd->add_option("--chunk-rows", s.chunk_rows, "Rows per HDF5 chunk (0 = ~3 MB chunks when compressed)");
  cmd->add_option("--seed", s.seed, "Random seed")->capture_default_str();
  cmd->add_option("--instrument-seed", s.instrument_seed,
                  "Seed of the gains and bandpasses (0 = --seed): equal values share the instrument")
      ->capture_default_str();
  cmd->add_option("--threads", s.threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->callback([&ctx, o, cmd] {
    apply_size(o->spec, o->size, *cmd);
    apply_default_sky(o->spec, *cmd);
    // "--calibrator" alone keeps the anonymous SIMCAL of earlier versions.
    if (cmd->count("--calibrator") && o->vla_calibrator.empty()) o->spec.calibrator_at_transit = true;
    if (!o->date.empty() && o->vla_calibrator.empty()) throw ConfigError("--date needs --calibrator NAME");
    if (cmd->count("--field-calibrators") && o->vla_calibrator.empty()) {
      throw ConfigError("--[no-]field-calibrators needs --calibrator NAME");
    }
    ctx.action = [&ctx, o] {
      auto& spec = o->spec;
      spec.compression = uvh5::parse_compression(o->compression);
      if (!o->sky_file.empty()) {
        std::ifstream in(o->sky_file);
        try {
          spec.sky = sky::sky_model_from_json(nlohmann::json::parse(in));
        } catch (const nlohmann::json::exception& e) {
          throw InputError(o->sky_file + ": " + e.what());
        }
      }
      const auto data_dir = ctx.config().get_path("paths.data_dir");
      const auto site = astro::load_site_data(data_dir);
      if (!o->vla_calibrator.empty()) {
        const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(data_dir));
        const auto cal = catalog::find_calibrator(list, o->vla_calibrator);
        if (!cal) throw ConfigError(fmt::format("--calibrator {}: not in the VLA calibrator list", o->vla_calibrator));
        const std::string date = o->date.empty() ? spec.start_utc.substr(0, 10) : o->date;
        const double t = simulation::put_calibrator_at_transit(spec, *cal, site.observatory, date);
        if (o->field_calibrators) {
          for (auto& f : simulation::field_calibrators(list, *cal)) {
            spdlog::info("field calibrator {} ({:.3f} Jy at 1.4 GHz) in the sky", f.name, f.flux_at(1.4e9));
            spec.sky.sources.push_back(std::move(f));
          }
        }
        spdlog::info("calibrator {} ({}) transits at {}; group starts {}", cal->name, cal->alt_name,
                     astro::jd_utc_to_iso(t, 1), spec.start_utc);
      }
      spec.validate();
      const simulation::Simulator sim(site.observatory, site.stations);
      const std::size_t nsb = spec.subbands.empty() ? static_cast<std::size_t>(spec.nsubbands)
                                                    : spec.subbands.size();
      auto progress = ctx.progress("simulate", nsb * static_cast<std::size_t>(spec.ntimes), "blocks");
      const auto res = sim.run(spec, o->out_dir, progress.get(), &ctx.interrupts());
      progress->finish();
      nlohmann::json j = {{"group_id", res.group_id},
                          {"files", nlohmann::json::array()},
                          {"truth", res.truth.string()},
                          {"bytes_written", res.bytes_written}};
      for (const auto& f : res.files) j["files"].push_back(f.string());
      if (ctx.json()) {
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << fmt::format("simulated group {}: {} files, {:.1f} MB, truth {}\n", res.group_id,
                                 res.files.size(), res.bytes_written / 1e6, res.truth.string());
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
