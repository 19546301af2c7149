#pragma once
// `contimg simulate --calibrator NAME`: a real VLA calibrator, with its
// catalogue position and spectral model (catalog::calibrator_source), placed
// so that it transits the meridian at the middle of the simulated group.
#include <span>
#include <string>
#include <vector>

#include "astro/astrometry.h"
#include "catalog/vla_calibrators.h"
#include "simulation/simulation_spec.h"

namespace contimg::simulation {

// Adds the calibrator as the first sky source, points at its J2000
// declination and sets start_utc (whole seconds) so that its first transit on
// the UTC day `date` ("YYYY-MM-DD") is at mid-group. Returns the transit (UTC JD).
double put_calibrator_at_transit(SimulationSpec& spec, const catalog::VlaCalibrator& calibrator,
                                 const astro::Observatory& observatory, const std::string& date);

// The known sources of the calibrator's field, which the calibration's field
// model holds (calibration/transit_policy.cc): catalog::calibrator_sources_within
// catalog::kFieldRadiusDeg of it, without the calibrator itself.
std::vector<sky::Source> field_calibrators(std::span<const catalog::VlaCalibrator> list,
                                           const catalog::VlaCalibrator& calibrator);

}  // namespace contimg::simulation
