// `contimg convert INPUT_DIR OUTPUT_DIR START END`: every group of a time range
// to one MS each (SPEC §4, §8), with its state in the database; and
// `contimg convert-files OUTPUT_DIR FILE...`: one group given as files.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "astro/site_data.h"
#include "cli/app.h"
#include "cli/empty_range.h"
#include "cli/single_stage.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "conversion/conversion_settings.h"
#include "conversion/conversion_stage.h"
#include "conversion/group_converter.h"
#include "grouping/group_selection.h"
#include "grouping/grouping.h"
#include "grouping/settings.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "pipeline/runner.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct ConvertOptions {
  std::string input_dir, output_dir, start, end;
  std::vector<std::string> files;
  bool dry_run = false, skip_existing = false, allow_incomplete = false;
  std::string db;
};

struct Outcome {
  std::string group_id;
  std::string status;  // converted, skipped, failed, planned
  std::string reason;
  std::string ms_path;
  nlohmann::json metrics;
  // Subbands the group lacks and why ("invalid: <error>", "no file"): an
  // incomplete group converted with --allow-incomplete must say what it lacks.
  std::vector<std::pair<int, std::string>> missing_subbands;
};

std::string format_missing(const std::vector<std::pair<int, std::string>>& missing) {
  std::string out;
  for (const auto& [k, why] : missing) out += fmt::format("{}sb{:02d} {}", out.empty() ? "" : "; ", k, why);
  return out;
}

nlohmann::json summary_json(const std::vector<Outcome>& outcomes, double seconds) {
  nlohmann::json j = {{"converted", nlohmann::json::array()},
                      {"skipped", nlohmann::json::array()},
                      {"failed", nlohmann::json::array()},
                      {"planned", nlohmann::json::array()}};
  for (const auto& o : outcomes) {
    nlohmann::json e = {{"group_id", o.group_id}};
    if (!o.reason.empty()) e["reason"] = o.reason;
    if (!o.ms_path.empty()) e["ms"] = o.ms_path;
    if (!o.metrics.is_null()) e["metrics"] = o.metrics;
    if (!o.missing_subbands.empty()) {
      auto& m = e["missing_subbands"] = nlohmann::json::array();
      for (const auto& [k, why] : o.missing_subbands) m.push_back({{"subband", k}, {"reason", why}});
    }
    j[o.status].push_back(e);
  }
  j["counts"] = {{"converted", j["converted"].size()},
                 {"skipped", j["skipped"].size()},
                 {"failed", j["failed"].size()},
                 {"planned", j["planned"].size()}};
  j["seconds"] = seconds;
  return j;
}

nlohmann::json metrics_json(const conversion::ConversionResult& r) {
  return {{"rows", r.rows},
          {"bytes_read", r.bytes_read},
          {"bytes_written", r.bytes_written},
          {"seconds", r.seconds_total},
          {"seconds_read_wait", r.seconds_read_wait},
          {"seconds_write", r.seconds_write},
          {"seconds_verify", r.seconds_verify},
          {"seconds_sync", r.seconds_sync},
          {"seconds_publish", r.seconds_publish},
          {"mb_per_s", r.seconds_total > 0 ? (r.bytes_read / 1e6) / r.seconds_total : 0.0},
          {"staged_in_tmpfs", r.staged_in_tmpfs},
          {"missing_subbands", r.missing_subbands},
          {"calibrator_field", r.calibrator_field}};
}

int report(const CommandContext& ctx, const std::vector<Outcome>& outcomes, double seconds,
           const std::vector<std::string>& warnings = {}) {
  auto j = summary_json(outcomes, seconds);
  j["warnings"] = warnings;
  if (ctx.json()) {
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& o : outcomes) {
      // A skipped incomplete group's reason already lists what it lacks.
      const bool say_missing = !o.missing_subbands.empty() && (o.status == "converted" || o.status == "planned");
      std::cout << fmt::format("{:<9} {}{}{}{}\n", o.status, o.group_id,
                               o.ms_path.empty() ? "" : "  -> " + o.ms_path,
                               o.reason.empty() ? "" : "  (" + o.reason + ")",
                               say_missing ? "  [flagged SPWs for missing subbands: " +
                                                 format_missing(o.missing_subbands) + "]"
                                           : "");
    }
    for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
    std::cout << fmt::format("convert: {} converted, {} skipped, {} failed{} in {:.1f} s\n",
                             j["counts"]["converted"].get<int>(), j["counts"]["skipped"].get<int>(),
                             j["counts"]["failed"].get<int>(),
                             j["counts"]["planned"].get<int>() ? fmt::format(", {} planned (dry run)", j["counts"]["planned"].get<int>()) : "",
                             seconds);
  }
  return j["counts"]["failed"].get<int>() > 0 ? static_cast<int>(ExitCode::kFailure) : 0;
}

void add_conversion_flags(CLI::App* cmd, ConvertOptions& o, CommandContext& ctx) {
  cmd->add_flag("--dry-run", o.dry_run, "List what would be converted and why, convert nothing");
  cmd->add_flag("--skip-existing", o.skip_existing, "Skip groups whose MS is registered and current (same inputs and settings)");
  cmd->add_flag("--allow-incomplete", o.allow_incomplete,
                "Convert groups with >= grouping.min_subbands subbands; missing ones become flagged SPWs");
  auto set = [&ctx](const char* key, const char* flag) {
    return [&ctx, key, flag](const std::string& v) { ctx.command_overrides.push_back({key, v, flag}); };
  };
  cmd->add_flag_callback("--parallel-io", [&ctx] { ctx.command_overrides.push_back({"conversion.parallel_io", "true", "--parallel-io"}); },
                         "Read subbands in parallel (default)");
  cmd->add_flag_callback("--no-parallel-io", [&ctx] { ctx.command_overrides.push_back({"conversion.parallel_io", "false", "--no-parallel-io"}); },
                         "Read subbands one at a time");
  cmd->add_flag_callback("--merge-spws", [&ctx] { ctx.command_overrides.push_back({"conversion.merge_spws", "true", "--merge-spws"}); },
                         "One 768-channel SPW instead of 16");
  cmd->add_option_function<std::string>("--io-batch-size", set("conversion.io_batch_size", "--io-batch-size"),
                                        "Subband reads in flight at once");
  cmd->add_option_function<std::string>("--max-workers", set("conversion.max_workers", "--max-workers"),
                                        "Reader threads (0 = all cores)");
  cmd->add_option_function<std::string>("--stage-dir", set("conversion.stage_dir", "--stage-dir"),
                                        "Staging directory (default: tmpfs when it has room, else beside the output)");
  cmd->add_option("--db", o.db, "State database (= paths.state_db)");
}

}  // namespace

void register_convert_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Convert every group of a UTC time range to one Measurement Set each");
  cmd->add_option("input_dir", o->input_dir, "Directory of *_sbNN.hdf5 files")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("output_dir", o->output_dir, "Directory for <group_id>.ms")->required();
  cmd->add_option("start", o->start, "First group time (UTC, YYYY-MM-DD[THH:MM:SS])")->required();
  cmd->add_option("end", o->end, "Last group time (UTC; a date alone = end of that day)")->required();
  add_conversion_flags(cmd, *o, ctx);
  cmd->callback([&ctx, o] {
    if (!o->db.empty()) ctx.command_overrides.push_back({"paths.state_db", o->db, "--db"});
    ctx.action = [&ctx, o] {
      const auto t0 = std::chrono::steady_clock::now();
      const auto& cfg = ctx.config();
      const auto first = grouping::parse_utc_bound(o->start, false, "convert: START");
      const auto last = grouping::parse_utc_bound(o->end, true, "convert: END");
      if (last < first) throw ConfigError("convert: END is before START");
      const auto gs = grouping::GroupingSettings::from_config(cfg);

      // Index first: the one grouping rule decides what a group is.
      state::StateDb db(state::StateDb::resolve_path(cfg));
      grouping::index_directory(db, o->input_dir, gs, uvh5::CacheProfiles::from_config(cfg),
                                [&ctx] { ctx.interrupts().throw_if_interrupted(); });

      const auto site = astro::load_site_data(cfg.get_path("paths.data_dir"));
      conversion::GroupConverter converter(site, conversion::calibrator_refs_from_config(cfg),
                                           conversion::options_from_config(cfg, o->allow_incomplete, ctx.argv));
      const fs::path out_dir = fs::absolute(o->output_dir);
      std::vector<Outcome> outcomes;
      const auto selected = grouping::select_groups(db, first, last, gs, o->allow_incomplete,
                                                    fs::absolute(o->input_dir));
      std::vector<std::string> warnings;
      if (selected.empty()) {
        warnings.push_back(empty_range_warning(o->input_dir, first, last));  // InputError: no files at all
        spdlog::warn("convert: {}", warnings.back());
      }
      std::unique_ptr<orchestration::Orchestrator> orch;
      if (!o->dry_run) {
        fs::create_directories(out_dir);
        auto settings = orchestration::OrchestratorSettings::from_config(cfg);
        // Swept at the start and again whenever a dead holder's job is taken over.
        settings.temporary_roots = orchestration::temporary_roots(cfg, {out_dir});
        orchestration::sweep_temporaries(settings.temporary_roots);
        orch = std::make_unique<orchestration::Orchestrator>(db, out_dir, settings, &ctx.interrupts());
      }
      for (const auto& sel : selected) {
        ctx.interrupts().throw_if_interrupted();
        const auto& g = sel.group;
        Outcome oc{g.group_id, "", "", "", nullptr, sel.missing_reasons};
        const fs::path ms = out_dir / (g.group_id + ".ms");
        using Decision = grouping::SelectedGroup::Decision;
        if (sel.decision == Decision::kFailInvalid) {
          oc.status = "failed";
          oc.reason = sel.reason;
        } else if (sel.decision == Decision::kSkipIncomplete) {
          oc.status = "skipped";
          oc.reason = sel.reason;
        } else if (o->dry_run) {
          oc.status = "planned";
          oc.reason = fmt::format("{} subbands", sel.subband_files.size());
          oc.ms_path = ms.string();
        }
        if (!oc.status.empty()) {
          if (!o->dry_run) {
            db.set_group_state(g.group_id,
                               oc.status == "failed" ? state::GroupState::kFailed : state::GroupState::kSkipped,
                               oc.reason);
          }
          outcomes.push_back(oc);
          continue;
        }
        auto progress = ctx.progress(fmt::format("convert {}", g.group_id), 24, "integrations");
        std::vector<std::string> encoded;
        for (const auto& [k, path] : sel.subband_files) {
          encoded.push_back(conversion::ConversionStage::encode({k, path}));
        }
        std::vector<std::unique_ptr<pipeline::Stage>> stages;
        stages.push_back(std::make_unique<conversion::ConversionStage>(converter, true, progress.get()));
        const pipeline::Context start(ctx.shared_config(), g.group_id,
                                      {{"subband_files", encoded}, {"output_dir", out_dir.string()}},
                                      &ctx.interrupts());
        orchestration::Segment seg;
        seg.running = state::GroupState::kConverting;
        seg.done = state::GroupState::kConverted;
        seg.source_inputs = orchestration::describe_files(sel.subband_files);
        // Without --skip-existing a group is converted again even when its MS
        // is registered and current (the command's documented behaviour).
        seg.force = !o->skip_existing;
        const auto run = orch->run(stages, start, seg);  // throws Cancelled after recording it
        progress->finish();
        const auto& st = run.stages.front();
        if (run.ok && st.outcome == pipeline::Outcome::kSkipped) {
          oc.status = "skipped";
          oc.reason = "MS exists (registered, current)";
          oc.ms_path = ms.string();
        } else if (run.ok) {
          const auto& out = *run.final_context;
          oc.status = "converted";
          oc.ms_path = out.get_string("ms_path");
          oc.metrics = {{"rows", out.get_int("rows")},
                        {"bytes_read", st.bytes_read},
                        {"bytes_written", st.bytes_written},
                        {"seconds", st.seconds},
                        {"mb_per_s", st.mb_per_s()},
                        {"peak_rss_bytes", st.peak_rss},
                        {"staged_in_tmpfs", out.get_bool("staged_in_tmpfs")},
                        {"calibrator_field", out.get_string("calibrator_field")}};
        } else {
          // The failed group is recorded (job and group); the others go on.
          oc.status = "failed";
          oc.reason = st.error;
        }
        outcomes.push_back(oc);
      }
      return report(ctx, outcomes,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), warnings);
    };
  });

  auto f = std::make_shared<ConvertOptions>();
  auto* one = app.add_subcommand("convert-files", "Convert the subband files of one group to one Measurement Set");
  one->add_option("output_dir", f->output_dir, "Directory for <group_id>.ms")->required();
  one->add_option("files", f->files, "The group's *_sbNN.hdf5 files")->required()->check(CLI::ExistingFile);
  add_conversion_flags(one, *f, ctx);
  one->callback([&ctx, f] {
    ctx.action = [&ctx, f] {
      const auto t0 = std::chrono::steady_clock::now();
      const auto& cfg = ctx.config();
      const auto gs = grouping::GroupingSettings::from_config(cfg);
      std::vector<grouping::GroupInput> inputs;
      for (const auto& p : f->files) {
        const auto parsed = grouping::parse_subband_name(fs::path(p).filename().string());
        if (!parsed) throw InputError(p + ": " + parsed.error);
        const auto& name = parsed.name;
        std::error_code ec;
        const auto mtime = fs::last_write_time(p, ec).time_since_epoch();
        inputs.push_back({fs::absolute(p).string(), *name,
                          std::chrono::duration_cast<std::chrono::nanoseconds>(mtime).count()});
      }
      const auto groups = grouping::group_files(inputs, gs.tolerance_s, gs.expected_subbands);
      if (groups.size() != 1) {
        throw InputError(fmt::format("the {} files form {} groups by the grouping rule, not one",
                                     inputs.size(), groups.size()));
      }
      const auto& g = groups.front();
      for (const auto& d : g.duplicates) {
        spdlog::warn("duplicate sb{:02d}: using {}, ignoring {}", d.subband, inputs[d.kept].path,
                     inputs[d.dropped].path);
      }
      std::vector<conversion::SubbandFile> sb;
      for (auto i : g.members) sb.push_back({inputs[i].name.subband, inputs[i].path});
      const fs::path out_dir = fs::absolute(f->output_dir).lexically_normal();
      Outcome oc{g.id, "", "", "", nullptr, {}};
      if (false) {
      } else if (const int n = static_cast<int>(sb.size());
                 !f->allow_incomplete && n < gs.expected_subbands && n < gs.min_subbands) {
        // The converter would suggest --allow-incomplete, which refuses below the minimum.
        std::vector<int> have;
        for (const auto& x : sb) have.push_back(x.subband);
        std::vector<int> missing;
        for (int k = 0; k < gs.expected_subbands; ++k) {
          if (std::find(have.begin(), have.end(), k) == have.end()) missing.push_back(k);
        }
        oc.status = "failed";
        oc.reason = fmt::format("group {} is incomplete ({}/{} subbands; missing {}): fewer than the minimum of "
                                "{} (grouping.min_subbands), so --allow-incomplete would not convert it either",
                                g.id, n, gs.expected_subbands, grouping::format_subbands(missing),
                                gs.min_subbands);
        spdlog::error("{}", oc.reason);
      } else if (f->dry_run) {
        oc.status = "planned";
        oc.reason = fmt::format("{} subbands", sb.size());
      } else {
        const auto site = astro::load_site_data(cfg.get_path("paths.data_dir"));
        const conversion::GroupConverter converter(site, conversion::calibrator_refs_from_config(cfg),
                                                   conversion::options_from_config(cfg, f->allow_incomplete, ctx.argv));
        auto progress = ctx.progress(fmt::format("convert {}", g.id), 24, "integrations");
        std::vector<std::string> encoded;
        std::vector<std::pair<int, std::string>> files;
        for (const auto& x : sb) {
          encoded.push_back(conversion::ConversionStage::encode(x));
          files.emplace_back(x.subband, x.path.string());
        }
        // A job of the output directory's tree: exclusive, registered with
        // the files it was made from (--skip-existing: a registered, current
        // MS is kept; a directory without a record is never trusted).
        conversion::ConversionStage stage(converter, true, progress.get());
        const pipeline::Context start(ctx.shared_config(), g.id,
                                      {{"subband_files", encoded}, {"output_dir", out_dir.string()}},
                                      &ctx.interrupts());
        state::StateDb db(state::StateDb::resolve_path(cfg));
        try {
          const auto res = run_stage_job(ctx, db, stage, start, out_dir, !f->skip_existing,
                                         "convert " + g.id, orchestration::describe_files(files));
          progress->finish();
          if (res.record.outcome == pipeline::Outcome::kSkipped) {
            oc.status = "skipped";
            oc.reason = "MS exists (registered, current)";
            oc.ms_path = (out_dir / (g.id + ".ms")).string();
          } else {
            const auto& r = *stage.last_result();
            oc.status = "converted";
            oc.ms_path = r.ms_path.string();
            oc.metrics = metrics_json(r);
            for (int k : r.missing_subbands) oc.missing_subbands.emplace_back(k, "no file given");
          }
        } catch (const InputError& e) {
          oc.status = "failed";
          oc.reason = e.what();
          spdlog::error("{}", e.what());
        } catch (const IoError& e) {
          oc.status = "failed";
          oc.reason = e.what();
          spdlog::error("{}", e.what());
          report(ctx, {oc}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          return static_cast<int>(ExitCode::kIoError);
        }
      }
      const int code = report(ctx, {oc}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return oc.status == "failed" ? static_cast<int>(ExitCode::kInputError) : code;
    };
  });
}

}  // namespace contimg::cli
