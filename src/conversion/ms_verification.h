#pragma once
// The checks an MS must pass before it is published (SPEC §4 "Validation
// after writing"), read back from the table with casacore (through io/ms's
// CasaTable), independent of the code that wrote it.
#include <filesystem>
#include <string>
#include <vector>

#include "astro/astrometry.h"

namespace contimg::conversion {

struct VerificationExpectations {
  std::uint64_t rows = 0;
  std::size_t spectral_windows = 0;
  std::vector<astro::Station> stations;  // ANTENNA row i = station i + 1
  double max_baseline_m = 3000.0;        // 0 < |uvw| <= this for cross-correlations
  double antenna_tolerance_m = 0.05;
  // Span of the integrations (first start to last end) must lie in this window.
  double min_duration_s = 296.0;
  double max_duration_s = 309.5;
};

struct VerificationReport {
  std::vector<std::string> failures;  // empty = publishable
  bool ok() const { return failures.empty(); }
  std::string summary() const;
};

VerificationReport verify_ms(const std::filesystem::path& ms, const VerificationExpectations& e);

}  // namespace contimg::conversion
