#pragma once
// The first integration time of a Measurement Set, read from the main table's
// TIME column alone: what identifies the group of an MS the pipeline did not
// make (cli/single_stage.h). casacore-free header.
#include <filesystem>
#include <optional>

namespace contimg::ms {

// Smallest TIME (MJD seconds) of the main table; nullopt when it has no rows.
// InputError when the path is no readable table with a TIME column.
std::optional<double> first_time_mjd_s(const std::filesystem::path& ms);

}  // namespace contimg::ms
