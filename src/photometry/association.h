#pragma once
// Association of measurements with the running source catalogue (issue 15;
// docs/science-products.md). Two methods:
//  - fixed: angular distance <= radius_arcsec;
//  - de Ruiter (VAST association.py / TraP): candidates within
//    beamwidth_limit * BMAJ / 2, then the dimensionless distance
//    r = sqrt(dRA^2 cos^2(mean Dec) / (sRA1^2 + sRA2^2) + dDec^2 / (sDec1^2 + sDec2^2)) <=
//    deruiter_radius, each position's sigma being its fit error with a systematic floor added in
//    quadrature.
// One image's measurements are matched one-to-one (a source has one flux per
// image): every (measurement, source) candidate pair is ranked by r (de Ruiter)
// or distance (fixed), and pairs are taken greedily from the best while both
// ends are free. A measurement that had more than one candidate, or whose best
// candidate went to a better pair, is recorded as ambiguous.
#include <cstdint>
#include <string>
#include <vector>

namespace contimg::photometry {

struct SkyPosition {
  double ra_deg = 0, dec_deg = 0;
  double ra_err_arcsec = 0, dec_err_arcsec = 0;  // 1-sigma fit errors (0 = unknown)
};

struct AssociationOptions {
  enum class Method { kDeRuiter, kFixed };
  Method method = Method::kDeRuiter;
  double radius_arcsec = 10;      // fixed
  double deruiter_radius = 5.68;  // de Ruiter
  double beamwidth_limit = 1.5;   // de Ruiter: search within this x BMAJ / 2
  double systematic_arcsec = 1;   // added in quadrature to every position error
  static Method parse_method(const std::string& name);  // "deruiter" or "fixed"; ConfigError else
};

struct Association {
  int source = -1;  // index into the catalogue; -1: no counterpart
  double distance_arcsec = 0;
  double deruiter = 0;     // 0 for the fixed method
  int n_candidates = 0;    // sources within the limit
  bool ambiguous = false;  // several candidates, or its best went to another measurement
};

// Angular distance (arcsec) and de Ruiter radius of two positions.
double distance_arcsec(const SkyPosition& a, const SkyPosition& b);
double deruiter_radius(const SkyPosition& a, const SkyPosition& b, double systematic_arcsec);

// One result per measurement. `beam_major_arcsec` is the image's restoring beam (de Ruiter limit).
std::vector<Association> associate(const std::vector<SkyPosition>& measurements,
                                   const std::vector<SkyPosition>& catalogue,
                                   double beam_major_arcsec, const AssociationOptions& o);

}  // namespace contimg::photometry
