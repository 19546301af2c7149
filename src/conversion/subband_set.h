#pragma once
// The subband files of one group, opened and checked against each other
// before anything is written: same rows, times, baselines, polarizations and
// channel layout, and frequencies on the one contiguous grid (SPEC §2).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/uvh5/uvh5_file.h"

namespace contimg::conversion {

struct SubbandFile {
  int subband = 0;  // 0..15 from the file name
  std::filesystem::path path;
};

// One integration's rows in every file (identical across files).
struct TimeSlot {
  double jd_utc = 0;
  uvh5::Uvh5File::RowRuns runs;
  std::uint64_t nrows = 0;
};

class SubbandSet {
 public:
  // Opens and validates; throws InputError naming the file and the problem
  // (unreadable, wrong shape, inconsistent times/baselines/frequencies).
  // Subbands absent from `files` are "missing": their channels are derived
  // from the grid of the others.
  SubbandSet(const std::vector<SubbandFile>& files, int expected_subbands,
             const uvh5::CacheProfiles& profiles, uvh5::CacheProfile profile);

  int expected_subbands() const { return expected_; }
  const uvh5::Uvh5Header& reference() const { return *reference_; }  // full header
  bool present(int subband) const { return files_.at(static_cast<std::size_t>(subband)) != nullptr; }
  const uvh5::Uvh5File& file(int subband) const { return *files_.at(static_cast<std::size_t>(subband)); }
  const uvh5::Uvh5Header& header(int subband) const { return headers_.at(static_cast<std::size_t>(subband)); }
  std::vector<int> missing() const;
  std::uint64_t input_bytes() const;

  // Channel centres of a subband in ascending order (also for missing ones).
  std::vector<double> ascending_freqs(int subband) const;
  double channel_width_hz() const { return width_; }  // positive

  const std::vector<TimeSlot>& times() const { return times_; }
  // ANTENNA1/ANTENNA2 of one time slot's rows, in read order.
  const std::vector<std::int32_t>& ant1() const { return ant1_; }
  const std::vector<std::int32_t>& ant2() const { return ant2_; }

 private:
  int expected_;
  std::vector<std::unique_ptr<uvh5::Uvh5File>> files_;
  std::vector<uvh5::Uvh5Header> headers_;  // peek-level; the reference is full
  std::optional<uvh5::Uvh5Header> reference_;
  int reference_subband_ = 0;
  double width_ = 0;
  double top_hz_ = 0;  // highest channel of sb00 (descending layout)
  bool descending_ = true;
  std::vector<TimeSlot> times_;
  std::vector<std::int32_t> ant1_, ant2_;
};

}  // namespace contimg::conversion
