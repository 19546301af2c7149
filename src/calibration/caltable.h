#pragma once
// CASA calibration tables (the "NewCalTable" layout CASA 5/6 writes): the
// bandpass as a "B Jones" table (one row per SPW and antenna, CPARAM
// [npol, nchan]) and the gains as a "G Jones" table (one row per interval,
// SPW and antenna, CPARAM [npol, 1]; the one solution over all SPWs is
// written for every SPW so that CASA maps SPW to SPW without a spwmap).
// Subtables OBSERVATION, ANTENNA, FIELD, SPECTRAL_WINDOW, HISTORY are copies
// of the MS's. Written under a staging name and renamed (never partial at the
// final path). docs/calibration.md lists the differences from CASA's tables.
#include <filesystem>
#include <string>

#include "calibration/solution.h"

namespace contimg::calibration {

struct CaltableInfo {
  std::filesystem::path ms;  // the MS the subtables are copied from (MSName)
  int refant = -1;           // ANTENNA2 of every row
  std::string history;       // a HISTORY message (the command line)
};

void write_bandpass_table(const std::filesystem::path& path, const BandpassSolution& bp, const CaltableInfo& info);
void write_gain_table(const std::filesystem::path& path, const GainSolution& g, int nspw, const CaltableInfo& info);

// Readers (apply uses them). Throw InputError naming the table when it is
// not a caltable of that type.
BandpassSolution read_bandpass_table(const std::filesystem::path& path);
GainSolution read_gain_table(const std::filesystem::path& path);

}  // namespace contimg::calibration
