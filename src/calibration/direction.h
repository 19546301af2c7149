#pragma once
// A sky direction for the calibration layer. Its own header, C++17-clean:
// calibration/ms_access.cc (a casacore translation unit, compiled as C++17,
// docs/architecture.md) needs it without predict.h's std::span API.

namespace contimg::calibration {

struct Direction {
  double ra_rad = 0, dec_rad = 0;
};

}  // namespace contimg::calibration
