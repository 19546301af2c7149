#pragma once
// Time-scale conversions through ERFA (no per-call object creation: the seed's
// "batch time conversion" lesson is free in C++).
#include <string>

namespace contimg::astro {

constexpr double kMjdOffset = 2400000.5;  // JD - MJD
constexpr double kSecondsPerDay = 86400.0;

// UTC Julian date of "YYYY-MM-DDTHH:MM:SS[.fff]" (also with a space or 'Z').
// Throws ConfigError naming the text when it is not such a time.
double iso_to_jd_utc(const std::string& iso);

// "2025-01-01T12:34:56.789" for a UTC Julian date (milliseconds).
std::string jd_utc_to_iso(double jd_utc, int decimals = 3);

}  // namespace contimg::astro
