#pragma once
// A calibration set against the previous valid sets of the instrument
// (issue 16, docs/calibration.md "Consistency with history"), and the rule
// that picks the set applied to a group. Pure functions over plain structs:
// the caller supplies the earlier sets' summaries (stored in their qa_json
// under "summary") and the candidates; nothing here opens the state database.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/solution.h"
#include "state/calsets.h"

namespace contimg::calibration {

// The figures of one set that later sets are compared with.
struct CalsetSummary {
  std::string id;
  double mid_time_s = 0;  // MJD s
  // Per antenna: median |B| over SPWs, channels and polarizations of its
  // unflagged bandpass solutions (the flux scale lives in B); 0 = no data.
  std::vector<double> antenna_amp;
  // Per SPW: median |B| over antennas and channels, divided by the median
  // over all SPWs: the bandpass shape at SPW resolution; 0 = no data.
  std::vector<double> spw_shape;
  // Median over antennas of the rms (deg) of the gain phase about its mean
  // over the set's intervals: phase stability within the transit.
  double phase_rms_deg = 0;
  // For the position check: per SPW its mean frequency (Hz); per antenna and
  // SPW (index ant * nspw + spw) the phase (rad) of the channel-mean pol-0
  // bandpass, NaN without data; per antenna its position projected on the
  // plane perpendicular to the pointing (m, antenna_plane_uv). Empty when
  // the positions were not given.
  std::vector<double> spw_freq_hz;
  std::vector<double> antenna_phase;
  std::vector<std::array<double, 2>> antenna_uv;
};

// Antenna positions (ITRF, m) projected on the plane perpendicular to a
// meridian pointing at `dec_rad` (east, north-ish), relative to their mean.
std::vector<std::array<double, 2>> antenna_plane_uv(const std::vector<std::array<double, 3>>& itrf,
                                                    double dec_rad);

// `antenna_uv` may be empty (no position check later).
CalsetSummary summarize(const CalSolution& solution, const std::string& id,
                        const std::vector<std::array<double, 2>>& antenna_uv = {});
nlohmann::json to_json(const CalsetSummary& s);
// Throws InputError when `j` is not a summary.
CalsetSummary calset_summary_from_json(const nlohmann::json& j);

struct HistoryThresholds {
  // Array flux scale: the median over antennas of |B| / |B|_history.
  double warn_scale_jump = 0.05;  // |ratio - 1| above: warning
  double fail_scale_jump = 0.10;  // above: failure
  // One antenna's amplitude ratio after dividing by the array ratio.
  double warn_antenna_jump = 0.20;
  // Bandpass shape per SPW, |shape / shape_history - 1|.
  double warn_shape_jump = 0.05;
  double fail_shape_jump = 0.20;
  // Phase rms against the history's: warn above max(factor x history, floor).
  double warn_phase_rms_factor = 3;
  double phase_rms_floor_deg = 5;
  // Phases against the history forming a plane over the array = a shifted
  // model position: warn when the shift that best explains them is larger.
  double warn_position_arcsec = 10;
  int max_sets = 5;  // the most recent earlier sets used
};

struct HistoryReport {
  int sets_compared = 0;
  double scale_ratio = 1;  // median antenna |B| ratio to the history
  double worst_shape_jump = 0;
  int worst_shape_spw = -1;
  std::vector<int> jumping_antennas;  // antenna indices beyond warn_antenna_jump
  double phase_rms_deg = 0, history_phase_rms_deg = 0;
  // The direction shift (arcsec) whose phase plane best fits the bandpass
  // phases minus the history's, and the phase coherence (0..1) with it and
  // without it; -1 when not computed (no positions).
  double position_shift_arcsec = -1, coherence_shifted = 0, coherence_unshifted = 0;
  std::vector<std::string> failures, warnings;
};

// Compares `now` with the earlier sets in `previous` (any order; those at or
// after now's time and those with another antenna count are ignored; the
// `max_sets` nearest earlier ones are used, per antenna and SPW the median
// over them is the reference). No earlier set: no finding.
HistoryReport compare_with_history(const CalsetSummary& now,
                                   const std::vector<CalsetSummary>& previous,
                                   const HistoryThresholds& t);
nlohmann::json to_json(const HistoryReport& r);

// One registered set as the chooser sees it.
struct CalsetCandidate {
  std::string id;
  double mid_time_s = 0, valid_from_s = 0, valid_to_s = 0;  // MJD s
  std::string status;                                       // passed | failed
  std::string grade;                                        // A (best), B, ...; F = failed
};

// The set applied to a target at `time_s` (docs/calibration.md "Which set is
// applied"): only passed sets whose window holds the time; those within
// `near_s` of it come first; among them the best grade, then the nearest
// mid time, then the id (deterministic). Index into `candidates`, nullopt
// when none qualifies.
std::optional<std::size_t> choose_calset(std::span<const CalsetCandidate> candidates, double time_s,
                                         double near_s);
// choose_calset over registry records (state::valid_calsets): the set to
// apply at `time_s`, nullopt when none.
inline constexpr double kNearCalsetS = 6 * 3600.0;
std::optional<state::CalsetRecord> choose_applicable(const std::vector<state::CalsetRecord>& sets, double time_s,
                                                     double near_s = kNearCalsetS);

}  // namespace contimg::calibration
