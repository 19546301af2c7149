#pragma once
// The one grouping rule (SPEC §3), used by every caller (index, batch
// conversion, streaming): pure functions, no I/O. docs/grouping.md states the
// rule and its edge cases.
//
//   Sort the files by filename timestamp. A group starts at the earliest file
//   not yet in a group and takes every file whose timestamp lies within
//   `tolerance_s` of that first file (inclusive). Its id is the timestamp of
//   its sb00 file, or of its earliest file when sb00 is missing. When one
//   subband code appears more than once in a group, the newest file (mtime)
//   is kept and the others are reported as duplicates. The group is complete
//   when every code 00..expected-1 is present.
//
//   Pointing: before duplicates are resolved, a window's files whose pointing
//   Dec differs by more than `pointing_tolerance_deg` from the window's
//   reference pointing (the Dec shared, within the tolerance, by the most
//   files; ties: the lowest subband code) are excluded: they are reported with
//   the reason and take no part in this or any other group. Files of unknown
//   Dec are never excluded.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "grouping/subband_name.h"

namespace contimg::grouping {

// One readable subband file offered to grouping.
struct GroupInput {
  std::string path;
  SubbandName name;
  std::int64_t mtime_ns = 0;
  std::optional<double> pointing_dec_rad = std::nullopt;  // from the header peek
};

// A file of the window left out because its pointing disagrees.
struct Excluded {
  std::size_t file = 0;  // input index
  int subband = 0;
  std::string reason;    // for the user: the two Decs and the tolerance
};

constexpr double kDefaultPointingToleranceDeg = 1.0;  // grouping.pointing_tolerance_deg

struct Duplicate {
  std::size_t dropped = 0;  // input index of the file not used
  std::size_t kept = 0;     // input index of the file used instead
  int subband = 0;
};

struct Group {
  std::string id;                    // "YYYY-MM-DDTHH:MM:SS"
  std::int64_t id_epoch = 0;
  std::int64_t first_epoch = 0;      // the window's first (anchor) file
  std::int64_t last_epoch = 0;       // its latest file
  std::vector<std::size_t> members;  // input indices of the files used, ascending subband code
  std::vector<Duplicate> duplicates; // ascending subband code, then input order
  std::vector<Excluded> excluded;    // pointing disagrees; by time, code, path
  std::optional<double> pointing_dec_rad;  // the reference pointing (none when unknown)
  std::vector<int> present;          // subband codes, ascending
  std::vector<int> missing;          // codes 0..expected-1 not present, ascending
  std::uint32_t subband_mask = 0;    // bit k set = code k present
  bool complete = false;

  int n_subbands() const { return static_cast<int>(present.size()); }
};

// Groups `files` by the rule above. Deterministic: the result does not depend
// on the input order (ties are broken by subband code, then path). Groups
// come out in time order. Throws ConfigError for tolerance_s < 0, an expected
// count outside 1..16 or a pointing tolerance outside (0, 180].
std::vector<Group> group_files(std::span<const GroupInput> files, double tolerance_s = 60.0,
                               int expected_subbands = kMaxSubbands,
                               double pointing_tolerance_deg = kDefaultPointingToleranceDeg);

// "sb03,sb11" (empty for none).
std::string format_subbands(const std::vector<int>& codes);

// The codes 0..expected-1 whose bit is clear in `subband_mask`, ascending.
std::vector<int> missing_subbands(std::uint32_t subband_mask, int expected_subbands);

}  // namespace contimg::grouping
