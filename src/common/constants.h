#pragma once
// Physical constants used across layers (one definition each).
namespace contimg {
inline constexpr double kSpeedOfLight = 299792458.0;  // m/s
inline constexpr double kSiderealDayS = 86164.0905;   // one turn of the Earth, s
}  // namespace contimg
