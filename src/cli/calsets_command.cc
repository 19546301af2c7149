// `contimg calsets [--json]`: the calibration sets in the registry (SPEC §5).
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "state/calsets.h"

namespace contimg::cli {

void register_calsets_command(CLI::App& app, CommandContext& ctx) {
  auto db = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("calsets", "List the calibration sets in the state database");
  cmd->add_option("--db", *db, "State database (= paths.state_db)");
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "Only the sets of this output tree (and those made before trees)");
  cmd->callback([&ctx, db, out] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    ctx.action = [&ctx, out] {
      state::StateDb sdb(state::StateDb::resolve_path(ctx.config()));
      std::optional<std::string> tree;
      if (!out->empty()) tree = std::filesystem::absolute(*out).lexically_normal().string();
      const auto sets = state::list_calsets(sdb, tree);
      if (ctx.json()) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& s : sets) {
          j.push_back({{"id", s.id}, {"group_id", s.group_id}, {"ms", s.ms_path}, {"calibrator", s.calibrator},
                       {"refant", s.refant}, {"bandpass_table", s.bandpass_table}, {"gain_table", s.gain_table},
                       {"mid_time_mjd_s", s.mid_time_s}, {"valid_from_mjd_s", s.valid_from_s},
                       {"valid_to_mjd_s", s.valid_to_s}, {"status", s.status}, {"grade", s.grade},
                       {"reasons", s.reasons}, {"qa", nlohmann::json::parse(s.qa_json)}, {"created_at", s.created_at},
                       {"out_root", s.out_root}});
        }
        std::cout << j.dump(2) << "\n";
        return 0;
      }
      if (sets.empty()) std::cout << "no calibration sets\n";
      for (const auto& s : sets) {
        std::cout << fmt::format("{:<40} {:<7} {}  valid MJD {:.4f}..{:.4f}  {}{}{}\n", s.id, s.status, s.grade,
                                 s.valid_from_s / 86400, s.valid_to_s / 86400, s.bandpass_table,
                                 s.reasons.empty() ? "" : "  (" + s.reasons + ")",
                                 s.out_root.empty() ? "" : "  [tree " + s.out_root + "]");
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
