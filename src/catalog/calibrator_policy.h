#pragma once
// Which calibrator transits are solved (issue 16, docs/calibration.md "Which
// transits are solved"), as a pure function: a calibrator is solved on only
// when its apparent flux (catalogue flux x primary beam at its position)
// dominates the catalogue sources in the beam; the Perley & Butler flux
// standards always are. The other catalogue sources above a flux limit form
// the rest of the field model (never the sole model).
#include <string>
#include <vector>

#include "sky/sky_model.h"

namespace contimg::catalog {

struct TransitPolicyOptions {
  double min_fraction =
      0.5;  // calibrator apparent / total apparent of the catalogue sources in the beam
  double field_model_min_jy =
      0.05;  // other sources at least this bright (apparent, 1.4 GHz) join the model
  double same_source_arcsec =
      30;                        // a catalogue entry this close to the calibrator is the calibrator
  bool primaries_always = true;  // Perley & Butler standards are solved on whatever the field holds
};

struct TransitPolicy {
  bool solve = false;
  bool primary = false;
  double calibrator_apparent_jy = 0;  // at 1.4 GHz
  double field_apparent_jy = 0;       // all catalogue sources in the beam, the calibrator included
  double fraction = 0;                // calibrator / field
  std::vector<sky::Source> field_model;  // the other sources to add to the calibrator's model
  std::string reason;                    // why (not) solved, with the figures
};

// `calibrator` with its spectrum (calibrator_source), `primary` when it is a
// flux standard, `centre_*` the pointing at the transit (the field
// direction), `catalogue` every catalogue source near the field (VLA list and
// reference catalogue; duplicates of the calibrator are recognised by
// position). Beam: sky::airy_power at 1.4 GHz.
TransitPolicy decide_transit(const sky::Source& calibrator, bool primary, double centre_ra_rad,
                             double centre_dec_rad, const std::vector<sky::Source>& catalogue,
                             const TransitPolicyOptions& options);

}  // namespace contimg::catalog
