#pragma once
// The grouping keys of the configuration, validated once.
#include "config/config.h"

namespace contimg::grouping {

struct GroupingSettings {
  double tolerance_s = 60.0;   // grouping.tolerance_s
  int expected_subbands = 16;  // grouping.expected_subbands
  int min_subbands = 12;       // grouping.min_subbands (--allow-incomplete)
  double pointing_tolerance_deg = 1.0;  // grouping.pointing_tolerance_deg

  // Throws ConfigError naming the key of a value out of range.
  static GroupingSettings from_config(const config::Config& config);
};

}  // namespace contimg::grouping
