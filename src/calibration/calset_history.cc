#include "calibration/calset_history.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/constants.h"
#include "common/error.h"
#include "common/statistics.h"

namespace contimg::calibration {
namespace {

constexpr double kArcsecPerRad = 180 * 3600 / M_PI;

// A model position error shifts every antenna's phase by 2 pi nu/c (u l + v m):
// a plane over the array, absorbed by the gains. The phases against the
// history's (circular mean per antenna and SPW) are searched for the (l, m)
// whose plane makes them most coherent, SPW by SPW (a constant per SPW, e.g.
// another reference antenna, drops out).
void position_check(const CalsetSummary& now, const std::vector<const CalsetSummary*>& use,
                    const HistoryThresholds& t, HistoryReport& r) {
  const std::size_t nant = now.antenna_uv.size(), nspw = now.spw_freq_hz.size();
  if (nant == 0 || now.antenna_phase.size() != nant * nspw) return;
  std::vector<std::complex<double>> d(nant * nspw);  // exp(i (phi_now - phi_hist)), 0 = none
  for (std::size_t k = 0; k < d.size(); ++k) {
    std::complex<double> h{};
    for (const auto* p : use) {
      if (p->antenna_phase.size() == d.size() && std::isfinite(p->antenna_phase[k]))
        h += std::polar(1.0, p->antenna_phase[k]);
    }
    if (std::abs(h) > 0 && std::isfinite(now.antenna_phase[k]))
      d[k] = std::polar(1.0, now.antenna_phase[k] - std::arg(h));
  }
  double umax = 0, fmax = 0;
  for (const auto& uv : now.antenna_uv) umax = std::max({umax, std::abs(uv[0]), std::abs(uv[1])});
  for (double f : now.spw_freq_hz) fmax = std::max(fmax, f);
  if (umax <= 0 || fmax <= 0) return;
  auto coherence = [&](double l, double m) {
    double sum = 0, n = 0;
    for (std::size_t s = 0; s < nspw; ++s) {
      const double k = 2 * M_PI * now.spw_freq_hz[s] / kSpeedOfLight;
      std::complex<double> acc{};
      double cnt = 0;
      for (std::size_t a = 0; a < nant; ++a) {
        const auto& x = d[a * nspw + s];
        if (x == std::complex<double>{}) continue;
        acc += x * std::polar(1.0, -k * (now.antenna_uv[a][0] * l + now.antenna_uv[a][1] * m));
        cnt += 1;
      }
      sum += std::abs(acc);
      n += cnt;
    }
    return n > 0 ? sum / n : 0.0;
  };
  // Grid: a quarter of the array's resolution per step, out to 5 arcmin.
  const double step = std::max(0.25 * kSpeedOfLight / fmax / (2 * umax), 1.0 / kArcsecPerRad);
  const int half = std::min(100, static_cast<int>(std::ceil(300 / kArcsecPerRad / step)));
  double best = -1, bl = 0, bm = 0;
  for (int i = -half; i <= half; ++i) {
    for (int j = -half; j <= half; ++j) {
      const double c = coherence(i * step, j * step);
      if (c > best) {
        best = c;
        bl = i * step;
        bm = j * step;
      }
    }
  }
  r.coherence_unshifted = coherence(0, 0);
  r.coherence_shifted = best;
  r.position_shift_arcsec = std::hypot(bl, bm) * kArcsecPerRad;
  // The shift must explain the phases clearly better than no shift.
  if (r.position_shift_arcsec > t.warn_position_arcsec && best > r.coherence_unshifted + 0.1) {
    r.warnings.push_back(fmt::format(
        "bandpass phases against the previous set(s) form a plane equal to a {:.0f} arcsec shift "
        "of the model "
        "position (phase coherence {:.2f} with it, {:.2f} without): a model position error?",
        r.position_shift_arcsec, best, r.coherence_unshifted));
  }
}

}  // namespace

std::vector<std::array<double, 2>> antenna_plane_uv(const std::vector<std::array<double, 3>>& itrf,
                                                    double dec) {
  std::array<double, 3> c{};
  for (const auto& p : itrf) {
    for (int k = 0; k < 3; ++k) c[k] += p[k] / static_cast<double>(itrf.size());
  }
  const double lon = std::atan2(c[1], c[0]);
  std::vector<std::array<double, 2>> out;
  for (const auto& p : itrf) {
    const double dx = p[0] - c[0], dy = p[1] - c[1], dz = p[2] - c[2];
    // Equatorial frame of the local meridian: x to (HA 0, dec 0), y east, z north.
    const double x = dx * std::cos(lon) + dy * std::sin(lon),
                 y = -dx * std::sin(lon) + dy * std::cos(lon);
    out.push_back({y, -std::sin(dec) * x + std::cos(dec) * dz});
  }
  return out;
}

CalsetSummary summarize(const CalSolution& s, const std::string& id,
                        const std::vector<std::array<double, 2>>& uv) {
  CalsetSummary out;
  out.id = id;
  if (!uv.empty() && uv.size() == static_cast<std::size_t>(s.bandpass.nant)) {
    const auto& bp = s.bandpass;
    out.antenna_uv = uv;
    for (const auto& f : bp.freqs) {
      double sum = 0;
      for (double x : f) sum += x / static_cast<double>(f.size());
      out.spw_freq_hz.push_back(sum);
    }
    for (int a = 0; a < bp.nant; ++a) {
      for (std::size_t spw = 0; spw < bp.freqs.size(); ++spw) {
        std::complex<double> m{};
        for (std::size_t c = 0; c < bp.freqs[spw].size(); ++c) {
          const auto i = bp.index(static_cast<int>(spw), a, 0, c);
          if (!bp.flag[spw][i] && std::abs(bp.gain[spw][i]) > 0) {
            m += std::complex<double>(bp.gain[spw][i]) /
                 static_cast<double>(std::abs(bp.gain[spw][i]));
          }
        }
        out.antenna_phase.push_back(std::abs(m) > 0 ? std::arg(m) : std::nan(""));
      }
    }
  }
  const auto& bp = s.bandpass;
  out.mid_time_s = bp.time;
  std::vector<std::vector<double>> per_spw(bp.freqs.size());
  for (int a = 0; a < bp.nant; ++a) {
    std::vector<double> amps;
    for (std::size_t spw = 0; spw < bp.freqs.size(); ++spw) {
      for (int p = 0; p < bp.npol; ++p) {
        for (std::size_t c = 0; c < bp.freqs[spw].size(); ++c) {
          const auto i = bp.index(static_cast<int>(spw), a, p, c);
          if (bp.flag[spw][i]) continue;
          amps.push_back(std::abs(bp.gain[spw][i]));
          per_spw[spw].push_back(amps.back());
        }
      }
    }
    out.antenna_amp.push_back(median(std::move(amps)));
  }
  std::vector<double> spw_med;
  for (auto& v : per_spw) spw_med.push_back(median(std::move(v)));
  std::vector<double> nonzero;
  for (double m : spw_med) {
    if (m > 0) nonzero.push_back(m);
  }
  const double all = median(nonzero);
  for (double m : spw_med) out.spw_shape.push_back(all > 0 ? m / all : 0.0);

  const auto& g = s.gains;
  std::vector<double> rms;
  for (int a = 0; a < g.nant; ++a) {
    for (int p = 0; p < g.npol; ++p) {
      std::complex<double> mean{};
      std::vector<double> ph;
      for (std::size_t t = 0; t < g.time.size(); ++t) {
        const auto i = g.index(t, a, p);
        if (g.flag[i] || std::abs(g.gain[i]) == 0) continue;
        mean += std::complex<double>(g.gain[i]) / static_cast<double>(std::abs(g.gain[i]));
      }
      if (std::abs(mean) == 0) continue;
      double sum = 0;
      int n = 0;
      for (std::size_t t = 0; t < g.time.size(); ++t) {
        const auto i = g.index(t, a, p);
        if (g.flag[i] || std::abs(g.gain[i]) == 0) continue;
        const double d = std::arg(std::complex<double>(g.gain[i]) * std::conj(mean)) * 180 / M_PI;
        sum += d * d;
        ++n;
      }
      if (n > 1) rms.push_back(std::sqrt(sum / n));
    }
  }
  out.phase_rms_deg = median(std::move(rms));
  return out;
}

nlohmann::json to_json(const CalsetSummary& s) {
  nlohmann::json ph = nlohmann::json::array();
  for (double x : s.antenna_phase)
    ph.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
  return {{"id", s.id},
          {"mid_time_s", s.mid_time_s},
          {"antenna_amp", s.antenna_amp},
          {"spw_shape", s.spw_shape},
          {"phase_rms_deg", s.phase_rms_deg},
          {"spw_freq_hz", s.spw_freq_hz},
          {"antenna_phase", ph},
          {"antenna_uv", s.antenna_uv}};
}

CalsetSummary calset_summary_from_json(const nlohmann::json& j) {
  try {
    CalsetSummary s;
    s.id = j.at("id").get<std::string>();
    s.mid_time_s = j.at("mid_time_s").get<double>();
    s.antenna_amp = j.at("antenna_amp").get<std::vector<double>>();
    s.spw_shape = j.at("spw_shape").get<std::vector<double>>();
    s.phase_rms_deg = j.at("phase_rms_deg").get<double>();
    if (j.contains("antenna_uv")) {
      s.spw_freq_hz = j.at("spw_freq_hz").get<std::vector<double>>();
      for (const auto& x : j.at("antenna_phase"))
        s.antenna_phase.push_back(x.is_null() ? std::nan("") : x.get<double>());
      s.antenna_uv = j.at("antenna_uv").get<std::vector<std::array<double, 2>>>();
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("calibration set summary: {}", e.what()));
  }
}

HistoryReport compare_with_history(const CalsetSummary& now,
                                   const std::vector<CalsetSummary>& previous,
                                   const HistoryThresholds& t) {
  HistoryReport r;
  std::vector<const CalsetSummary*> use;
  for (const auto& p : previous) {
    if (p.mid_time_s < now.mid_time_s && p.antenna_amp.size() == now.antenna_amp.size() &&
        p.spw_shape.size() == now.spw_shape.size() && p.id != now.id) {
      use.push_back(&p);
    }
  }
  std::sort(use.begin(), use.end(), [](auto* a, auto* b) { return a->mid_time_s > b->mid_time_s; });
  if (use.size() > static_cast<std::size_t>(std::max(1, t.max_sets)))
    use.resize(static_cast<std::size_t>(std::max(1, t.max_sets)));
  r.sets_compared = static_cast<int>(use.size());
  r.phase_rms_deg = now.phase_rms_deg;
  if (use.empty()) return r;

  // Per antenna: ratio to the history's median amplitude.
  std::vector<double> ratio(now.antenna_amp.size(), 0.0), ratios;
  for (std::size_t a = 0; a < now.antenna_amp.size(); ++a) {
    std::vector<double> h;
    for (const auto* p : use) {
      if (p->antenna_amp[a] > 0) h.push_back(p->antenna_amp[a]);
    }
    const double ref = median(std::move(h));
    if (ref > 0 && now.antenna_amp[a] > 0) {
      ratio[a] = now.antenna_amp[a] / ref;
      ratios.push_back(ratio[a]);
    }
  }
  if (!ratios.empty()) {
    r.scale_ratio = median(ratios);
    const double jump = std::abs(r.scale_ratio - 1);
    const auto what = fmt::format(
        "bandpass amplitudes are {:.3f} x those of the {} previous set(s) (median over {} "
        "antennas; a model flux "
        "error or a gain change)",
        r.scale_ratio, use.size(), ratios.size());
    if (jump > t.fail_scale_jump) {
      r.failures.push_back(
          fmt::format("{} beyond the {:.0f}% limit", what, 100 * t.fail_scale_jump));
    } else if (jump > t.warn_scale_jump) {
      r.warnings.push_back(fmt::format("{} beyond {:.0f}%", what, 100 * t.warn_scale_jump));
    }
    for (std::size_t a = 0; a < ratio.size(); ++a) {
      if (ratio[a] > 0 && std::abs(ratio[a] / r.scale_ratio - 1) > t.warn_antenna_jump) {
        r.jumping_antennas.push_back(static_cast<int>(a));
      }
    }
    if (!r.jumping_antennas.empty()) {
      r.warnings.push_back(
          fmt::format("{} antenna(s) changed amplitude by more than {:.0f}% against the array: {}",
                      r.jumping_antennas.size(), 100 * t.warn_antenna_jump,
                      fmt::join(r.jumping_antennas, ", ")));
    }
  }

  for (std::size_t s = 0; s < now.spw_shape.size(); ++s) {
    std::vector<double> h;
    for (const auto* p : use) {
      if (p->spw_shape[s] > 0) h.push_back(p->spw_shape[s]);
    }
    const double ref = median(std::move(h));
    if (ref <= 0 || now.spw_shape[s] <= 0) continue;
    const double jump = std::abs(now.spw_shape[s] / ref - 1);
    if (jump > r.worst_shape_jump) {
      r.worst_shape_jump = jump;
      r.worst_shape_spw = static_cast<int>(s);
    }
  }
  if (r.worst_shape_spw >= 0) {
    const auto what =
        fmt::format("bandpass shape changed by {:.1f}% in SPW {} against the previous set(s)",
                    100 * r.worst_shape_jump, r.worst_shape_spw);
    if (r.worst_shape_jump > t.fail_shape_jump) {
      r.failures.push_back(fmt::format("{} (limit {:.0f}%)", what, 100 * t.fail_shape_jump));
    } else if (r.worst_shape_jump > t.warn_shape_jump) {
      r.warnings.push_back(
          fmt::format("{} (warning above {:.0f}%)", what, 100 * t.warn_shape_jump));
    }
  }

  position_check(now, use, t, r);

  std::vector<double> h;
  for (const auto* p : use) h.push_back(p->phase_rms_deg);
  r.history_phase_rms_deg = median(std::move(h));
  const double limit =
      std::max(t.warn_phase_rms_factor * r.history_phase_rms_deg, t.phase_rms_floor_deg);
  if (now.phase_rms_deg > limit) {
    r.warnings.push_back(
        fmt::format("gain phase rms {:.1f} deg within the transit (previous sets {:.1f} deg, "
                    "warning above {:.1f} deg)",
                    now.phase_rms_deg, r.history_phase_rms_deg, limit));
  }
  return r;
}

nlohmann::json to_json(const HistoryReport& r) {
  return {{"sets_compared", r.sets_compared},
          {"scale_ratio", r.scale_ratio},
          {"worst_shape_jump", r.worst_shape_jump},
          {"worst_shape_spw", r.worst_shape_spw},
          {"jumping_antennas", r.jumping_antennas},
          {"phase_rms_deg", r.phase_rms_deg},
          {"history_phase_rms_deg", r.history_phase_rms_deg},
          {"position_shift_arcsec", r.position_shift_arcsec},
          {"coherence_shifted", r.coherence_shifted},
          {"coherence_unshifted", r.coherence_unshifted},
          {"failures", r.failures},
          {"warnings", r.warnings}};
}

std::optional<std::size_t> choose_calset(std::span<const CalsetCandidate> c, double time_s,
                                         double near_s) {
  std::optional<std::size_t> best;
  // Smaller is better: (beyond near_s, grade letter, distance, id).
  auto key = [&](std::size_t i) {
    const double d = std::abs(c[i].mid_time_s - time_s);
    const std::string grade = c[i].grade.empty() ? std::string("Z") : c[i].grade;  // ungraded last
    return std::make_tuple(d > near_s, grade, d, c[i].id);
  };
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i].status != "passed" || c[i].valid_from_s > time_s || c[i].valid_to_s < time_s) continue;
    if (!best || key(i) < key(*best)) best = i;
  }
  return best;
}

std::optional<state::CalsetRecord> choose_applicable(const std::vector<state::CalsetRecord>& sets, double time_s,
                                                     double near_s) {
  std::vector<CalsetCandidate> candidates;
  for (const auto& r : sets) candidates.push_back({r.id, r.mid_time_s, r.valid_from_s, r.valid_to_s, r.status, r.grade});
  const auto i = choose_calset(candidates, time_s, near_s);
  if (!i) return std::nullopt;
  return sets[*i];
}

}  // namespace contimg::calibration
