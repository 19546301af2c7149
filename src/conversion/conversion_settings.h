#pragma once
// The converter's settings from the configuration (conversion.*, grouping.*,
// hdf5.*, paths.*): one place for `convert`, `run` and `demo`.
#include <string>
#include <vector>

#include "config/config.h"
#include "conversion/group_converter.h"

namespace contimg::conversion {

// Throws ConfigError naming the key of a value out of range.
ConversionOptions options_from_config(const config::Config& cfg, bool allow_incomplete,
                                      const std::vector<std::string>& command_line);

// The VLA calibrators at or above conversion.calibrator_min_flux_jy, named by
// their familiar name (3C286) when the list gives one, else the J2000 name.
std::vector<CalibratorRef> calibrator_refs_from_config(const config::Config& cfg);

}  // namespace contimg::conversion
