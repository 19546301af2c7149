#pragma once
// The transit policy (catalog/calibrator_policy.h) for one calibrator MS:
// gathers the catalogue sources near its calibrator field (the VLA list, and
// the reference catalogue when one is configured) and decides whether the
// chain solves on it. Reads catalogue files only, never the MS's data nor the
// state database, so a solve not attempted costs a metadata read.
#include <filesystem>
#include <string>

#include "calibration/ms_access.h"
#include "catalog/calibrator_policy.h"
#include "config/config.h"

namespace contimg::calibration {

// `calibrator` is the name the MS's calibrator field carries; `reference` the
// reference catalogue (empty: none, and then the field model stays empty:
// SPEC §5 adds other sources only when a catalogue is configured). A
// calibrator missing from the VLA list gives solve = true (solve_ms reports it).
catalog::TransitPolicy transit_policy_for(const config::Config& cfg, const MsMeta& meta,
                                          const std::string& calibrator,
                                          const std::filesystem::path& reference);

}  // namespace contimg::calibration
