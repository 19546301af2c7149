#include "validation/crossmatch.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "sky/primary_beam.h"
#include "validation/background.h"

namespace contimg::validation {
namespace {
constexpr double kDeg = std::numbers::pi / 180;
constexpr double kArcsec = kDeg / 3600;

double separation_arcsec(double ra1, double dec1, double ra2, double dec2) {
  return sky::angular_distance(ra1 * kDeg, dec1 * kDeg, ra2 * kDeg, dec2 * kDeg) / kArcsec;
}

// Index of the nearest of `others` (sorted by Dec) within radius, or -1.
int nearest(double ra, double dec, const std::vector<std::pair<double, double>>& others,
            const std::vector<int>& by_dec, double radius_arcsec) {
  const double r_deg = radius_arcsec / 3600;
  auto lo = std::lower_bound(by_dec.begin(), by_dec.end(), dec - r_deg,
                             [&](int i, double d) { return others[i].second < d; });
  int best = -1;
  double best_d = radius_arcsec;
  for (auto it = lo; it != by_dec.end() && others[*it].second <= dec + r_deg; ++it) {
    const double d = separation_arcsec(ra, dec, others[*it].first, others[*it].second);
    if (d <= best_d) {
      best_d = d;
      best = *it;
    }
  }
  return best;
}

std::vector<int> sorted_by_dec(const std::vector<std::pair<double, double>>& p) {
  std::vector<int> idx(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) idx[i] = static_cast<int>(i);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return p[a].second < p[b].second; });
  return idx;
}

}  // namespace

QaThresholds QaThresholds::from_config(const config::Config& c) {
  QaThresholds t;
  t.match_radius_arcsec = c.get_double("validation.match_radius_arcsec");
  t.astrometry_warn_arcsec = c.get_double("validation.astrometry_warn_arcsec");
  t.astrometry_fail_arcsec = c.get_double("validation.astrometry_fail_arcsec");
  t.flux_warn = c.get_double("validation.flux_ratio_warn");
  t.flux_fail = c.get_double("validation.flux_ratio_fail");
  t.completeness_min_flux_jy = c.get_double("validation.completeness_min_flux_jy");
  t.completeness_fail = c.get_double("validation.completeness_fail");
  t.qa_min_snr = c.get_double("validation.qa_min_snr");
  t.clip_sigma = c.get_double("validation.flux_clip_sigma");
  t.false_rate_warn = c.get_double("validation.false_rate_warn");
  return t;
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "pass";
    case Verdict::kWarn: return "warn";
    case Verdict::kFail: return "fail";
  }
  return "?";
}

QaResult cross_match(const std::vector<Detection>& dets, const std::vector<catalog::RefSource>& refs,
                     const QaThresholds& t) {
  QaResult r;
  r.n_detections = static_cast<int>(dets.size());
  r.n_reference = static_cast<int>(refs.size());
  r.match_radius_arcsec = t.match_radius_arcsec;
  std::vector<std::pair<double, double>> dpos, rpos;
  for (const auto& d : dets) dpos.emplace_back(d.ra_deg, d.dec_deg);
  for (const auto& s : refs) rpos.emplace_back(s.ra_deg, s.dec_deg);
  const auto dsorted = sorted_by_dec(dpos), rsorted = sorted_by_dec(rpos);
  std::vector<int> ref_of_det(dets.size()), det_of_ref(refs.size());
  for (std::size_t i = 0; i < dets.size(); ++i) {
    ref_of_det[i] = nearest(dpos[i].first, dpos[i].second, rpos, rsorted, t.match_radius_arcsec);
  }
  for (std::size_t j = 0; j < refs.size(); ++j) {
    det_of_ref[j] = nearest(rpos[j].first, rpos[j].second, dpos, dsorted, t.match_radius_arcsec);
  }
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const int j = ref_of_det[i];
    if (j < 0) {
      r.unmatched_detections.push_back(static_cast<int>(i));
      continue;
    }
    if (det_of_ref[j] != static_cast<int>(i)) continue;  // not mutual: a second component
    Match m;
    m.detection = static_cast<int>(i);
    m.reference = j;
    const double dra = std::remainder(dets[i].ra_deg - refs[j].ra_deg, 360.0);
    m.dra_arcsec = dra * 3600 * std::cos(refs[j].dec_deg * kDeg);
    m.ddec_arcsec = (dets[i].dec_deg - refs[j].dec_deg) * 3600;
    m.flux_ratio = refs[j].flux_jy > 0 ? dets[i].flux_jy / refs[j].flux_jy : NAN;
    r.matches.push_back(m);
  }
  r.n_unmatched = static_cast<int>(r.unmatched_detections.size());
  r.false_rate = dets.empty() ? 0 : double(r.n_unmatched) / dets.size();
  for (std::size_t j = 0; j < refs.size(); ++j) {
    if (refs[j].flux_jy < t.completeness_min_flux_jy) continue;
    ++r.n_complete_ref;
    if (det_of_ref[j] >= 0) {
      ++r.n_complete_found;
    } else {
      r.missed_references.push_back(static_cast<int>(j));
    }
  }
  r.completeness = r.n_complete_ref ? double(r.n_complete_found) / r.n_complete_ref : 0;

  // Statistics over significant matches; all matches when fewer than 3 are significant.
  std::vector<Match*> sig;
  for (auto& m : r.matches) {
    if (dets[m.detection].snr >= t.qa_min_snr) sig.push_back(&m);
  }
  if (sig.size() < 3) {
    sig.clear();
    for (auto& m : r.matches) sig.push_back(&m);
  }
  double sx = 0, sy = 0, s2 = 0;
  for (auto* m : sig) {
    m->used_astrometry = true;
    sx += m->dra_arcsec;
    sy += m->ddec_arcsec;
    s2 += m->dra_arcsec * m->dra_arcsec + m->ddec_arcsec * m->ddec_arcsec;
  }
  r.n_astrometry = static_cast<int>(sig.size());
  if (!sig.empty()) {
    r.mean_dra_arcsec = sx / sig.size();
    r.mean_ddec_arcsec = sy / sig.size();
    r.rms_offset_arcsec = std::sqrt(s2 / sig.size());
  }
  std::vector<float> ratios;
  for (auto* m : sig) {
    if (std::isfinite(m->flux_ratio)) ratios.push_back(static_cast<float>(m->flux_ratio));
  }
  if (!ratios.empty()) {
    auto work = ratios;
    const auto st = clipped_stats(work, t.clip_sigma);
    r.flux_ratio_median = st.median;
    r.flux_ratio_sigma = st.sigma;
    r.n_flux = static_cast<int>(st.n);
    const double lo = st.median - t.clip_sigma * st.sigma, hi = st.median + t.clip_sigma * st.sigma;
    for (auto* m : sig) m->used_flux = std::isfinite(m->flux_ratio) && m->flux_ratio >= lo && m->flux_ratio <= hi;
  }

  // Findings, each with its own level; the verdict is the worst.
  struct Finding {
    Verdict level;
    std::string text;
  };
  std::vector<Finding> f;
  auto level = [](double value, double warn, double fail) {
    return value > fail ? Verdict::kFail : value > warn ? Verdict::kWarn : Verdict::kPass;
  };
  if (refs.empty()) {
    f.push_back({Verdict::kFail, "no reference source inside the image footprint"});
  } else if (r.matches.empty()) {
    f.push_back({Verdict::kFail, fmt::format("no detection matched any of {} reference sources within {}\"",
                                             refs.size(), t.match_radius_arcsec)});
  } else {
    const double mean = std::hypot(r.mean_dra_arcsec, r.mean_ddec_arcsec);
    const double worst = std::max(mean, r.rms_offset_arcsec);
    const auto lv = level(worst, t.astrometry_warn_arcsec, t.astrometry_fail_arcsec);
    f.push_back({lv, fmt::format("astrometry: mean offset {:.2f}\" (RA cos Dec {:+.2f}\", Dec {:+.2f}\"), RMS {:.2f}\" "
                                 "over {} matches ({} {}\")",
                                 mean, r.mean_dra_arcsec, r.mean_ddec_arcsec, r.rms_offset_arcsec, r.n_astrometry,
                                 lv == Verdict::kPass ? "<=" : ">",
                                 lv == Verdict::kFail ? t.astrometry_fail_arcsec : t.astrometry_warn_arcsec)});
    if (r.n_flux > 0) {
      const double dev = std::abs(r.flux_ratio_median - 1);
      const auto lf = level(dev, t.flux_warn, t.flux_fail);
      f.push_back({lf, fmt::format("flux scale: median measured/reference ratio {:.3f} ({:+.1f}%) over {} matches "
                                   "({} {:.0f}%)",
                                   r.flux_ratio_median, 100 * (r.flux_ratio_median - 1), r.n_flux,
                                   lf == Verdict::kPass ? "<=" : ">",
                                   100 * (lf == Verdict::kFail ? t.flux_fail : t.flux_warn))});
    }
  }
  if (r.n_complete_ref > 0) {
    const bool bad = r.completeness < t.completeness_fail;
    f.push_back({bad ? Verdict::kFail : Verdict::kPass,
                 fmt::format("completeness: {} of {} reference sources above {:g} mJy found ({:.0f}%; {} {:.0f}%)",
                             r.n_complete_found, r.n_complete_ref, t.completeness_min_flux_jy * 1e3,
                             100 * r.completeness, bad ? "<" : ">=", 100 * t.completeness_fail)});
  } else if (!refs.empty()) {
    f.push_back({Verdict::kWarn, fmt::format("completeness: no reference source above {:g} mJy in the footprint",
                                             t.completeness_min_flux_jy * 1e3)});
  }
  if (!dets.empty()) {
    const bool high = r.false_rate > t.false_rate_warn;
    f.push_back({high ? Verdict::kWarn : Verdict::kPass,
                 fmt::format("false detections: {} of {} detections unmatched ({:.0f}%; {} {:.0f}%)", r.n_unmatched,
                             dets.size(), 100 * r.false_rate, high ? ">" : "<=", 100 * t.false_rate_warn)});
  }
  std::stable_sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) { return a.level > b.level; });
  r.verdict = Verdict::kPass;
  for (const auto& x : f) {
    r.verdict = std::max(r.verdict, x.level);
    r.reasons.push_back(fmt::format("{}: {}", to_string(x.level), x.text));
  }
  return r;
}

QaResult without_reference(int n_detections, double noise_jy, double peak_jy, const std::string& why) {
  QaResult r;
  r.n_detections = n_detections;
  r.crossmatch_skipped = true;
  r.skip_reason = why;
  const bool measurable = std::isfinite(noise_jy) && noise_jy > 0;
  r.verdict = measurable ? Verdict::kWarn : Verdict::kFail;
  const auto image = measurable
      ? fmt::format("pass: image: MAD noise {:.3g} mJy/beam, peak {:.4g} Jy/beam (dynamic range {:.0f}), "
                    "{} detections", noise_jy * 1e3, peak_jy, peak_jy / noise_jy, n_detections)
      : std::string("fail: image: no noise measurable (blank or constant image)");
  const auto skipped = fmt::format("warn: crossmatch: skipped: {}; flux scale, astrometry, completeness and "
                                   "false detections not checked", why);
  r.reasons = measurable ? std::vector<std::string>{skipped, image} : std::vector<std::string>{image, skipped};
  return r;
}

nlohmann::json to_json(const QaResult& r) {
  return {{"verdict", to_string(r.verdict)},
          {"crossmatch", r.crossmatch_skipped
                             ? nlohmann::json{{"status", "skipped"}, {"reason", r.skip_reason}}
                             : nlohmann::json{{"status", "done"}}},
          {"reasons", r.reasons},
          {"n_detections", r.n_detections},
          {"n_reference", r.n_reference},
          {"n_matched", r.matches.size()},
          {"astrometry", {{"n", r.n_astrometry}, {"mean_dra_arcsec", r.mean_dra_arcsec},
                          {"mean_ddec_arcsec", r.mean_ddec_arcsec}, {"rms_arcsec", r.rms_offset_arcsec}}},
          {"flux_ratio", {{"n", r.n_flux}, {"median", r.flux_ratio_median}, {"sigma", r.flux_ratio_sigma}}},
          {"completeness", {{"n_reference", r.n_complete_ref}, {"n_found", r.n_complete_found},
                            {"fraction", r.completeness}}},
          {"false_detections", {{"n_unmatched", r.n_unmatched}, {"rate", r.false_rate}}}};
}

}  // namespace contimg::validation
