#pragma once
// DSA-110 subband file names (SPEC §2): `YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`, UTC,
// NN = 00..15. Parsing is strict: anything else is rejected with the reason.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace contimg::grouping {

constexpr int kMaxSubbands = 16;  // codes 00..15

struct SubbandName {
  std::string timestamp;  // "YYYY-MM-DDTHH:MM:SS" as written in the name
  std::int64_t epoch = 0; // the same in Unix seconds (UTC)
  int subband = 0;        // 0..15

  bool operator==(const SubbandName&) const = default;
};

struct NameParse {
  std::optional<SubbandName> name;
  std::string error;  // why not, naming the file: "<name>: subband code 16 out of range 00..15"
  explicit operator bool() const { return name.has_value(); }
};

// `file_name` is a base name (no directory). Reasons: the pattern does not
// match, a subband code above 15, an impossible date or time of day.
NameParse parse_subband_name(std::string_view file_name);

// True for names a directory scan offers to the strict parser: `*_sb*.hdf5`,
// not hidden (a leading '.' marks partial copies, e.g. rsync's).
bool is_subband_candidate(std::string_view file_name);

// "2025-01-01T06:00:00_sb03.hdf5".
std::string subband_file_name(std::string_view timestamp, int subband);

}  // namespace contimg::grouping
