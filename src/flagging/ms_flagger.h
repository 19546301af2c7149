#pragma once
// Flags one Measurement Set (SPEC §5, docs/flagging.md): reads DATA and FLAG
// per (integration, SPW) block, assembles each baseline's time-frequency plane
// over all channels of the group, clips invalid samples, runs AOFlagger on the
// cross-correlations, finds dead antennas, and writes FLAG (and FLAG_ROW)
// back. Nothing is written until every block has been read and processed, so
// bad input or an interrupt leaves the MS as it was.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "flagging/flag_algorithms.h"

namespace contimg {
class InterruptGuard;
class Progress;
namespace config {
class Config;
}
namespace state {
struct FlagStatRow;
}
}  // namespace contimg

namespace contimg::flagging {

struct FlagOptions {
  std::filesystem::path strategy;
  int threads = 0;  // 0 = hardware concurrency
  DeadAntennaCriteria dead;
  std::uint64_t memory_bytes = 2048ull << 20;  // both visibility buffers together
  // At least this many chunks of baselines (memory permitting fewer is not
  // used): the first chunk's read is the only one no detection overlaps.
  std::size_t min_chunks = 8;

  // flagging.* keys; the strategy defaults to <paths.data_dir>/strategies/dsa110-lband.lua.
  static FlagOptions from_config(const config::Config& cfg);
};

// Flag counts along one axis with a label per entry.
struct AxisStats {
  std::string axis;  // antenna | spw | channel | time
  std::vector<std::string> labels;
  FlagCounter counts;
};

struct FlagReport {
  std::filesystem::path ms;
  std::size_t nbaselines = 0, ntimes = 0, nchan = 0, npol = 0, nspw = 0;
  std::uint64_t samples = 0;          // (row, channel, correlation) cells in the MS
  std::uint64_t flagged_before = 0;   // as read
  std::uint64_t flagged_clipped = 0;  // newly flagged as zero/NaN/Inf
  std::uint64_t flagged_after = 0;
  std::vector<DeadAntenna> dead;      // ANTENNA rows
  std::vector<std::string> dead_names;
  AxisStats antenna{"antenna", {}, FlagCounter()}, spw{"spw", {}, FlagCounter()},
      channel{"channel", {}, FlagCounter()}, time{"time", {}, FlagCounter()};
  std::uint64_t bytes_read = 0, bytes_written = 0;
  double seconds_read = 0, seconds_detect = 0, seconds_write = 0, seconds_sync = 0,
         seconds_total = 0;
  int threads = 0;

  double fraction_before() const { return samples ? double(flagged_before) / double(samples) : 0.0; }
  double fraction_after() const { return samples ? double(flagged_after) / double(samples) : 0.0; }
};

nlohmann::json to_json(const FlagReport& r, bool per_channel = true);
// Rows for the flag_stats table (every axis).
std::vector<state::FlagStatRow> stat_rows(const FlagReport& r);
// FNV-1a 64 of the strategy file's text, hex: identifies the strategy in the DB.
std::string strategy_hash(const std::filesystem::path& strategy);

class MsFlagger {
 public:
  explicit MsFlagger(FlagOptions options) : options_(std::move(options)) {}

  // Throws InputError naming the MS when it is not an MS or lacks DATA/FLAG
  // (before writing anything), IoError when writing fails, Cancelled when
  // interrupted before writing.
  FlagReport run(const std::filesystem::path& ms, const InterruptGuard* interrupts = nullptr,
                 Progress* progress = nullptr) const;

 private:
  FlagOptions options_;
};

}  // namespace contimg::flagging
