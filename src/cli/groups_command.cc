// `contimg groups START END`: the groups of the state database whose id (sb00's
// filename timestamp) lies in [START, END] (UTC), with completeness, missing
// subbands, state and pointing. Reads what `contimg index` recorded.
#include <iostream>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "common/error.h"
#include "grouping/group_selection.h"
#include "grouping/grouping.h"
#include "grouping/settings.h"
#include "grouping/utc_time.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace {

struct GroupsCommandOptions {
  std::string start, end;
  std::string db;
  std::string state;
  bool files = false;
};



}  // namespace

void register_groups_command(CLI::App& app, CommandContext& ctx) {
  auto opts = std::make_shared<GroupsCommandOptions>();
  auto* cmd = app.add_subcommand(
      "groups", "List the groups (observations) of a UTC time range from the state database");
  cmd->add_option("start", opts->start, "First group time, UTC: YYYY-MM-DD[THH:MM[:SS]]")
      ->required();
  cmd->add_option("end", opts->end,
                  "Last group time, UTC (a date alone means the end of that day)")
      ->required();
  cmd->add_option("--state", opts->state,
                  "Only groups in this state: pending, converting, converted, failed, skipped");
  cmd->add_flag("--files", opts->files, "Also list each group's files");
  cmd->add_option("--db", opts->db, "State database file (= paths.state_db)");
  cmd->callback([&ctx, opts] {
    if (!opts->db.empty()) ctx.command_overrides.push_back({"paths.state_db", opts->db, "--db"});
    ctx.action = [&ctx, opts] {
      const auto& cfg = ctx.config();
      const auto settings = grouping::GroupingSettings::from_config(cfg);
      const std::int64_t first = grouping::parse_utc_bound(opts->start, false, "START");
      const std::int64_t last = grouping::parse_utc_bound(opts->end, true, "END");
      if (last < first) {
        throw ConfigError(fmt::format("END ({}) is before START ({})",
                                      grouping::epoch_to_iso(last), grouping::epoch_to_iso(first)));
      }
      std::optional<state::GroupState> only;
      if (!opts->state.empty()) only = state::parse_group_state(opts->state);

      state::StateDb::Options o;
      o.create = false;
      state::StateDb db(state::StateDb::resolve_path(cfg), o);
      const int expected = settings.expected_subbands;

      nlohmann::json out = nlohmann::json::array();
      std::size_t shown = 0, complete = 0, convertible = 0;
      if (!ctx.json()) {
        std::cout << fmt::format("{:<19}  {:>5}  {:<10}  {:>10}  {}\n", "group", "sb", "state",
                                 "Dec (deg)", "missing / notes");
      }
      for (const auto& g : db.groups_in_range(first, last)) {
        if (only && g.state != *only) continue;
        ++shown;
        const auto missing = grouping::missing_subbands(g.subband_mask, expected);
        const bool is_complete = missing.empty();
        const bool can_convert = is_complete || g.n_subbands >= settings.min_subbands;
        if (is_complete) {
          ++complete;
        } else if (can_convert) {
          ++convertible;
        }
        const bool has_dec = g.pointing_dec_rad.has_value();
        const double dec_deg = has_dec ? *g.pointing_dec_rad * 180 / std::numbers::pi : 0.0;
        std::vector<state::FileRecord> files;
        if (opts->files) files = db.files_of_group(g.group_id);
        const auto excluded = grouping::excluded_reasons(db, g.group_id, settings);
        if (ctx.json()) {
          nlohmann::json j = {{"group_id", g.group_id},
                              {"start_mjd", g.start_mjd},
                              {"n_subbands", g.n_subbands},
                              {"expected_subbands", expected},
                              {"complete", is_complete},
                              {"present", g.present()},
                              {"missing", missing},
                              {"convertible_incomplete", !is_complete && can_convert},
                              {"n_duplicates", g.n_duplicates},
                              {"excluded", excluded},
                              {"state", state::to_string(g.state)},
                              {"reason", g.reason.empty() ? nlohmann::json() : nlohmann::json(g.reason)},
                              {"ms_path", g.ms_path ? nlohmann::json(*g.ms_path) : nlohmann::json()},
                              {"attempts", g.attempts},
                              {"pointing_dec_rad", g.pointing_dec_rad ? nlohmann::json(*g.pointing_dec_rad) : nlohmann::json()},
                              {"pointing_dec_deg", has_dec ? nlohmann::json(dec_deg) : nlohmann::json()},
                              {"time_first_mjd", g.time_first_mjd ? nlohmann::json(*g.time_first_mjd) : nlohmann::json()},
                              {"time_last_mjd", g.time_last_mjd ? nlohmann::json(*g.time_last_mjd) : nlohmann::json()},
                              {"updated_at", g.updated_at}};
          if (opts->files) {
            nlohmann::json fl = nlohmann::json::array();
            for (const auto& f : files) {
              fl.push_back({{"subband", f.subband ? nlohmann::json(*f.subband) : nlohmann::json()},
                            {"path", f.path},
                            {"superseded", f.superseded}});
            }
            j["files"] = fl;
          }
          out.push_back(j);
          continue;
        }
        std::string notes = grouping::format_subbands(missing);
        if (!is_complete) {
          notes += can_convert ? " (convertible with --allow-incomplete)"
                               : fmt::format(" (below min {})", settings.min_subbands);
        }
        if (g.n_duplicates) notes += fmt::format(" {} duplicate(s) superseded", g.n_duplicates);
        for (const auto& why : excluded) notes += fmt::format(" [{}]", why);
        if (!g.reason.empty()) notes += fmt::format(" [{}]", g.reason);
        std::cout << fmt::format("{:<19}  {:>2}/{:<2}  {:<10}  {:>10}  {}\n", g.group_id,
                                 g.n_subbands, expected, state::to_string(g.state),
                                 has_dec ? fmt::format("{:+.4f}", dec_deg) : "?", notes);
        for (const auto& f : files) {
          std::cout << fmt::format("    sb{:02d}  {}{}\n", f.subband.value_or(-1), f.path,
                                   f.superseded ? "  (superseded)" : "");
        }
      }
      if (ctx.json()) {
        const nlohmann::json doc = {{"db", db.path().string()},
                                    {"start", grouping::epoch_to_iso(first)},
                                    {"end", grouping::epoch_to_iso(last)},
                                    {"groups", out},
                                    {"summary",
                                     {{"groups", shown},
                                      {"complete", complete},
                                      {"incomplete", shown - complete},
                                      {"convertible_incomplete", convertible}}}};
        std::cout << doc.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "{} groups in [{}, {}]: {} complete, {} incomplete ({} convertible with "
            "--allow-incomplete, min {})\n",
            shown, grouping::epoch_to_iso(first), grouping::epoch_to_iso(last), complete,
            shown - complete, convertible, settings.min_subbands);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
