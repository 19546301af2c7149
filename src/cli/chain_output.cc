#include "cli/chain_output.h"

#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void add_db_option(CLI::App* cmd, std::shared_ptr<std::string> db) {
  cmd->add_option("--db", *db,
                  "State database: a SQLite file or a postgresql:// URL (= paths.state_db; "
                  "default state.db_url, else the file under --out)");
}

void add_output_dir_overrides(CommandContext& ctx, const fs::path& out_dir) {
  const fs::path out = fs::absolute(out_dir);
  // Flags from the command line come after these, and file/environment values
  // are kept: the action re-checks provenance before using them.
  ctx.derived_overrides.push_back([out](const config::Config& cfg) {
    std::vector<config::Override> v;
    // A PostgreSQL state database (state.db_url) is shared: no file of the tree.
    if (cfg.entry("paths.state_db").source == config::Source::kDefault &&
        cfg.get_string("state.db_url").empty()) {
      v.push_back({"paths.state_db", (out / "contimg.sqlite").string(), "--out"});
    }
    if (cfg.entry("paths.scratch_dir").source == config::Source::kDefault) {
      v.push_back({"paths.scratch_dir", (out / "scratch").string(), "--out"});
    }
    if (cfg.entry("paths.stage_dir").source == config::Source::kDefault) {
      v.push_back({"paths.stage_dir", (out / "stage").string(), "--out"});
    }
    return v;
  });
}

int chain_exit_code(const chain::ChainSummary& s) {
  if (s.failed() == 0) return 0;
  for (const auto& g : s.groups) {
    if (g.status != "failed") continue;
    bool io = false;
    for (const auto& st : g.stages) io |= st.outcome == pipeline::Outcome::kFailed && st.error_kind == "io";
    if (!io) return static_cast<int>(ExitCode::kFailure);
  }
  return static_cast<int>(ExitCode::kIoError);
}

void print_chain_summary(const CommandContext& ctx, const chain::ChainSummary& s) {
  if (ctx.json()) {
    std::cout << s.to_json().dump(2) << "\n";
    return;
  }
  for (const auto& g : s.groups) {
    std::string line = fmt::format("{:<9} {}", g.status, g.group_id);
    const auto& out = g.outputs;
    if (out.contains("verdict")) line += fmt::format("  verdict={}", out["verdict"].get<std::string>());
    if (out.contains("calibrated")) line += fmt::format("  calibrated={}", out["calibrated"].get<bool>());
    if (out.contains("image_rms_jy")) {
      line += fmt::format("  rms={:.2f} mJy/beam", 1e3 * out["image_rms_jy"].get<double>());
    }
    if (out.contains("report_html")) line += "  report=" + out["report_html"].get<std::string>();
    if (!g.reason.empty()) line += "  (" + g.reason + ")";
    if (!g.missing_subbands.empty()) {
      std::string m;
      for (const auto& [k, why] : g.missing_subbands) m += fmt::format("{}sb{:02d} {}", m.empty() ? "" : "; ", k, why);
      line += "  [flagged SPWs for missing subbands: " + m + "]";
    }
    std::cout << line << "\n";
  }
  if (s.flux_scale.ran) {
    std::cout << s.flux_scale.report.summary << "\n";
    for (const auto& u : s.flux_scale.unchecked) std::cout << "  not checked: " << u << "\n";
  }
  for (const auto& w : s.warnings) std::cout << "warning: " << w << "\n";
  std::string timing;
  for (const auto& [stage, secs] : s.stage_seconds()) timing += fmt::format(" {}={:.1f}s", stage, secs);
  std::cout << fmt::format(
      "run: {} processed, {} failed, {} skipped in {:.1f} s; real-time factor {:.1f} (309 s cadence)\n"
      "stage time:{}\n",
      s.processed(), s.failed(), s.skipped(), s.wall_seconds, s.real_time_factor(), timing);
}

}  // namespace contimg::cli
