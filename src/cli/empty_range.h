#pragma once
// What a batch command (`convert`, `run`) says when its time range holds no
// group: "nothing to do" is a warning with exit 0, but a directory with no
// subband file at all is bad input (exit 3). docs/cli.md, "Empty ranges".
#include <cstdint>
#include <filesystem>
#include <string>

namespace contimg::cli {

// Throws InputError when `input_dir` holds no `*_sbNN.hdf5` file; otherwise
// returns the warning: the range [first, last] (Unix s) and what the directory
// holds nearest (how many subband files, their first and last times, the
// nearest before START and after END).
std::string empty_range_warning(const std::filesystem::path& input_dir, std::int64_t first,
                                std::int64_t last);

}  // namespace contimg::cli
