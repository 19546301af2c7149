#include "grouping/settings.h"

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "grouping/subband_name.h"

namespace contimg::grouping {

GroupingSettings GroupingSettings::from_config(const config::Config& config) {
  GroupingSettings s;
  s.tolerance_s = config.get_double("grouping.tolerance_s");
  const auto expected = config.get_int("grouping.expected_subbands");
  const auto min = config.get_int("grouping.min_subbands");
  if (!(s.tolerance_s >= 0) || !std::isfinite(s.tolerance_s)) {
    throw ConfigError(fmt::format("grouping.tolerance_s must be >= 0 seconds, got {}",
                                  s.tolerance_s));
  }
  if (expected < 1 || expected > kMaxSubbands) {
    throw ConfigError(fmt::format("grouping.expected_subbands must be 1..{}, got {}", kMaxSubbands,
                                  expected));
  }
  if (min < 1 || min > expected) {
    throw ConfigError(fmt::format(
        "grouping.min_subbands must be 1..grouping.expected_subbands ({}), got {}", expected, min));
  }
  s.pointing_tolerance_deg = config.get_double("grouping.pointing_tolerance_deg");
  if (!(s.pointing_tolerance_deg > 0 && s.pointing_tolerance_deg <= 180)) {
    throw ConfigError(fmt::format("grouping.pointing_tolerance_deg must be in (0, 180] degrees, got {}",
                                  s.pointing_tolerance_deg));
  }
  s.expected_subbands = static_cast<int>(expected);
  s.min_subbands = static_cast<int>(min);
  return s;
}

}  // namespace contimg::grouping
