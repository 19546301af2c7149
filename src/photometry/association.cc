#include "photometry/association.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

#include <fmt/format.h>

#include "common/error.h"
#include "sky/primary_beam.h"

namespace contimg::photometry {
namespace {
constexpr double kDeg = std::numbers::pi / 180;
}

AssociationOptions::Method AssociationOptions::parse_method(const std::string& name) {
  if (name == "deruiter") return Method::kDeRuiter;
  if (name == "fixed") return Method::kFixed;
  throw ConfigError(fmt::format("association method \"{}\": expected deruiter or fixed", name));
}

double distance_arcsec(const SkyPosition& a, const SkyPosition& b) {
  return sky::angular_distance(a.ra_deg * kDeg, a.dec_deg * kDeg, b.ra_deg * kDeg,
                               b.dec_deg * kDeg) /
         kDeg * 3600;
}

double deruiter_radius(const SkyPosition& a, const SkyPosition& b, double systematic_arcsec) {
  const double s2 = systematic_arcsec * systematic_arcsec;
  const double sra = a.ra_err_arcsec * a.ra_err_arcsec + b.ra_err_arcsec * b.ra_err_arcsec + 2 * s2;
  const double sdec =
      a.dec_err_arcsec * a.dec_err_arcsec + b.dec_err_arcsec * b.dec_err_arcsec + 2 * s2;
  const double dra = std::remainder(a.ra_deg - b.ra_deg, 360.0) * 3600 *
                     std::cos(0.5 * (a.dec_deg + b.dec_deg) * kDeg);
  const double ddec = (a.dec_deg - b.dec_deg) * 3600;
  if (!(sra > 0) || !(sdec > 0)) return INFINITY;
  return std::sqrt(dra * dra / sra + ddec * ddec / sdec);
}

std::vector<Association> associate(const std::vector<SkyPosition>& meas,
                                   const std::vector<SkyPosition>& cat, double beam_major_arcsec,
                                   const AssociationOptions& o) {
  const bool dr = o.method == AssociationOptions::Method::kDeRuiter;
  const double limit_arcsec = dr ? o.beamwidth_limit * beam_major_arcsec / 2 : o.radius_arcsec;
  // Catalogue sorted by Dec: each measurement looks at a Dec window only.
  std::vector<int> order(cat.size());
  for (std::size_t i = 0; i < cat.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return cat[a].dec_deg < cat[b].dec_deg; });
  std::vector<double> decs(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) decs[i] = cat[order[i]].dec_deg;

  std::vector<Association> out(meas.size());
  std::vector<std::tuple<double, double, int, int>> pairs;  // (rank, distance, measurement, source)
  std::vector<int> best(meas.size(), -1);
  std::vector<double> best_rank(meas.size(), INFINITY);
  for (std::size_t i = 0; i < meas.size(); ++i) {
    const double lo = meas[i].dec_deg - limit_arcsec / 3600,
                 hi = meas[i].dec_deg + limit_arcsec / 3600;
    auto it = std::lower_bound(decs.begin(), decs.end(), lo);
    for (; it != decs.end() && *it <= hi; ++it) {
      const int s = order[static_cast<std::size_t>(it - decs.begin())];
      const double d = distance_arcsec(meas[i], cat[s]);
      if (d > limit_arcsec) continue;
      double rank = d;
      if (dr) {
        rank = deruiter_radius(meas[i], cat[s], o.systematic_arcsec);
        if (rank > o.deruiter_radius) continue;
      }
      ++out[i].n_candidates;
      pairs.emplace_back(rank, d, static_cast<int>(i), s);
      if (rank < best_rank[i]) best_rank[i] = rank, best[i] = s;
    }
  }
  std::sort(pairs.begin(), pairs.end());
  std::vector<char> taken(cat.size(), 0);
  for (const auto& [rank, d, i, s] : pairs) {
    if (out[i].source >= 0 || taken[s]) continue;
    taken[s] = 1;
    out[i].source = s;
    out[i].distance_arcsec = d;
    out[i].deruiter = dr ? rank : 0;
  }
  for (std::size_t i = 0; i < meas.size(); ++i) {
    out[i].ambiguous = out[i].n_candidates > 1 || (best[i] >= 0 && out[i].source != best[i]);
  }
  return out;
}

}  // namespace contimg::photometry
