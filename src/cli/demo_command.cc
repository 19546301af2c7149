// `contimg demo [DIR]`: the whole pipeline on a simulated observation — a
// calibrator-transit group and, two hours later at the same declination, a
// science group with a known sky and the same instrument — through the chain,
// then where the report is and the headline numbers (issue 6).
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "astro/site_data.h"
#include "astro/time.h"
#include "catalog/vla_calibrators.h"
#include "chain/chain_runner.h"
#include "cli/app.h"
#include "cli/chain_output.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "grouping/utc_time.h"
#include "simulation/calibrator_transit.h"
#include "simulation/simulator.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct DemoOptions {
  std::string dir = "contimg-demo";
  std::string size = "small";
  std::string calibrator = "3C286";
  std::string date = "2025-03-20";
  double science_offset_h = 2.0;
  int sources = 25;
  std::uint64_t seed = 7;
};

// The demo's sizes: "tiny" for the test suite (a minute), "small" for a first
// look (a few minutes on 2 cores), "full" = SPEC §2 (a benchmark).
void apply_demo_size(simulation::SimulationSpec& s, const std::string& size) {
  if (size == "full") return;
  // 48 antennas: fewer leave the evenly spaced N-S arm so regular that its
  // grating lobes dominate the image of a bright calibrator.
  if (size == "small") {
    s.nants = 48;
    s.nchan = 12;
    return;
  }
  if (size == "tiny") {
    s.nants = 48;
    s.nchan = 4;
    return;
  }
  throw ConfigError("--size must be tiny, small or full, got \"" + size + "\"");
}

}  // namespace

void register_demo_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "Simulate a calibrator transit and a science group, run the whole chain, show the report");
  cmd->add_option("dir", o->dir, "Working directory (raw/, ms/, products/, state database)")->capture_default_str();
  cmd->add_option("--size", o->size, "tiny (tests), small, full (SPEC size)")->capture_default_str();
  cmd->add_option("--calibrator", o->calibrator, "VLA calibrator transiting in the first group")->capture_default_str();
  cmd->add_option("--date", o->date, "UTC day of the calibrator transit")->capture_default_str();
  cmd->add_option("--science-offset-h", o->science_offset_h,
                  "Science group start after the calibrator group, hours")->capture_default_str();
  cmd->add_option("--sources", o->sources, "Point sources in the science field")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed (sky, noise; the instrument is shared)")->capture_default_str();
  cmd->callback([&ctx, o] {
    add_output_dir_overrides(ctx, o->dir);
    // Small demos image the SPEC's 3.5° field with 4" pixels (about the SPEC
    // rule's 3.2") and at most 10000 CLEAN components, so that WSClean takes a
    // minute, not ten; "full" uses the SPEC settings. Configured values win.
    ctx.derived_overrides.push_back([o](const config::Config& cfg) {
      std::vector<config::Override> v;
      if (o->size == "full") return v;
      if (cfg.entry("imaging.cell_arcsec").source == config::Source::kDefault) {
        v.push_back({"imaging.cell_arcsec", "4", "demo --size"});
      }
      if (cfg.entry("imaging.niter").source == config::Source::kDefault) {
        v.push_back({"imaging.niter", "10000", "demo --size"});
      }
      return v;
    });
    ctx.action = [&ctx, o] {
      const fs::path dir = fs::absolute(o->dir);
      const fs::path raw = dir / "raw";
      const auto& cfg = ctx.config();
      const auto site = astro::load_site_data(cfg.get_path("paths.data_dir"));
      const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(cfg.get_path("paths.data_dir")));
      const auto cal = catalog::find_calibrator(list, o->calibrator);
      if (!cal) throw ConfigError(fmt::format("--calibrator {}: not in the VLA calibrator list", o->calibrator));

      simulation::SimulationSpec cal_spec;
      apply_demo_size(cal_spec, o->size);
      // DSA-110's per-visibility noise: SEFD ~7000 Jy / sqrt(2 × 244 kHz × 12.9 s) ≈ 2.8 Jy.
      cal_spec.noise_jy = 2.8;
      cal_spec.seed = o->seed;
      cal_spec.instrument_seed = o->seed;
      simulation::put_calibrator_at_transit(cal_spec, *cal, site.observatory, o->date);
      // The field's other known sources, which the solve's field model holds.
      for (auto& f : simulation::field_calibrators(list, *cal)) cal_spec.sky.sources.push_back(std::move(f));

      simulation::SimulationSpec sci_spec = cal_spec;
      sci_spec.sky.sources.clear();
      sci_spec.seed = o->seed + 1;  // other sky and noise, same instrument
      sci_spec.random_sources = o->sources;
      sci_spec.random_min_jy = 0.05;
      sci_spec.random_max_jy = 2.0;
      // The real sky's counts (docs/chain.md: bright sources drifting through
      // the beam limit the snapshot's dynamic range).
      sci_spec.random_count_slope = 2.5;
      sci_spec.start_utc = astro::jd_utc_to_iso(
          astro::iso_to_jd_utc(cal_spec.start_utc) + o->science_offset_h / 24.0, 0);

      const simulation::Simulator sim(site.observatory, site.stations);
      std::vector<std::string> groups;
      for (const auto* spec : {&cal_spec, &sci_spec}) {
        const auto existing = raw / (spec->start_utc + "_sb00.hdf5");
        if (fs::exists(existing)) {  // resumable: the simulation is deterministic
          groups.push_back(spec->start_utc);
          continue;
        }
        auto progress = ctx.progress(fmt::format("simulate {}", spec->start_utc),
                                     16u * static_cast<unsigned>(spec->ntimes), "blocks");
        const auto r = sim.run(*spec, raw, progress.get(), &ctx.interrupts());
        progress->finish();
        groups.push_back(r.group_id);
      }

      chain::ChainOptions co;
      co.input_dir = raw;
      co.first_epoch = grouping::parse_utc_bound(groups.front(), false, "demo");
      co.last_epoch = grouping::parse_utc_bound(groups.back(), false, "demo");
      co.layout.out_dir = dir;
      co.command_line = ctx.argv;
      const auto summary = chain::ChainRunner(ctx.shared_config(), &ctx.interrupts()).run(co);
      print_chain_summary(ctx, summary);
      if (!ctx.json()) {
        for (const auto& g : summary.groups) {
          if (g.group_id != groups.back() || !g.outputs.contains("report_html")) continue;
          std::cout << fmt::format("\nScience group {}: verdict {}; report {}\n", g.group_id,
                                   g.outputs.value("verdict", std::string("?")),
                                   g.outputs["report_html"].get<std::string>());
        }
      }
      return summary.failed() > 0 ? static_cast<int>(ExitCode::kFailure) : 0;
    };
  });
}

}  // namespace contimg::cli
