#pragma once
// The calibrated flux scale checked downstream (issue 16, docs/calibration.md
// "Flux-scale check"): when no reference catalogue exists, the day's
// calibrator transits, calibrated with the set chosen for them, are compared
// with their catalogue flux. Plain buffers; the caller reads the MS.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/apply.h"
#include "calibration/ms_access.h"
#include "calibration/solution.h"

namespace contimg::calibration {

// Accumulates one transit: each DATA block is corrected with `solution` and
// compared with the catalogue model of the calibrator (Stokes I, [row][chan],
// as predict_block gives). ratio() = calibrated / catalogue flux.
class TransitFluxMeasurement {
 public:
  explicit TransitFluxMeasurement(const CalSolution& solution) : solution_(solution) {}
  void add(VisBlock data_block, std::span<const std::complex<float>> model);
  double ratio() const { return cmp_.ratio(); }
  double residual_rms() const { return cmp_.residual_rms(); }

 private:
  const CalSolution& solution_;
  ModelComparison cmp_;
};

struct TransitFlux {
  std::string group_id, calibrator, calset_id;
  double ratio = 0;  // calibrated / catalogue flux
  // QA status of the transit's own set (passed, failed, not_solved; "" when
  // unknown): a ratio far from 1 on a transit whose own set failed says the
  // catalogue model is not what its data hold, not that the scale is wrong.
  std::string own_set_status;
};

struct FluxScaleReport {
  std::vector<TransitFlux> transits;
  double median_ratio = 0;  // 0 when no transit
  double worst_ratio = 0;   // farthest from 1
  bool ok = true;           // every transit within the tolerance
  std::string summary;      // one line for the chain summary
};

// One calibrator transit MS against its catalogue flux, calibrated with the
// set whose tables are given (the set applied to it): reads DATA one SPW at a
// time, predicts the calibrator named by the MS's calibrator field from the
// VLA list (catalog::calibrator_source) and returns calibrated / catalogue
// flux. Throws InputError when the MS has no calibrator field or the
// calibrator is not in the list. Reads the MS and the tables, never the state
// database.
TransitFlux measure_transit_flux(const std::filesystem::path& ms,
                                 const std::filesystem::path& data_dir,
                                 const std::string& calset_id,
                                 const std::filesystem::path& bandpass_table,
                                 const std::filesystem::path& gain_table);

// |ratio - 1| > tolerance for any transit: not ok, named in the summary.
FluxScaleReport flux_scale_report(std::vector<TransitFlux> transits, double tolerance);
nlohmann::json to_json(const FluxScaleReport& r);

}  // namespace contimg::calibration
