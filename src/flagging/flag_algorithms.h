#pragma once
// Flagging algorithms on plain buffers (no MS): clipping of invalid samples,
// the AOFlagger RFI detector on one baseline's time-frequency plane, dead
// antenna detection, and flag statistics. The MS adapter is ms_flagger.h.
//
// A baseline plane holds npol correlations x nchan channels (all SPWs of the
// group in frequency order) x ntimes integrations, index (p * nchan + c) *
// ntimes + t: time fastest, as AOFlagger's images are laid out.
#include <complex>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace contimg::flagging {

using Visibility = std::complex<float>;

struct PlaneShape {
  std::size_t npol = 0, nchan = 0, ntimes = 0;
  std::size_t size() const { return npol * nchan * ntimes; }
  std::size_t index(std::size_t p, std::size_t c, std::size_t t) const {
    return (p * nchan + c) * ntimes + t;
  }
};

// Flags (sets to 1) every sample that is NaN, infinite or exactly zero (both
// parts): a correlator that produced nothing. Returns how many it newly flagged.
std::size_t clip_invalid(std::span<const Visibility> vis, std::span<std::uint8_t> flags);

// AOFlagger with one Lua strategy. Not thread-safe: AOFlagger needs one
// Strategy per thread (aoflagger.h), so each worker owns a detector.
class RfiDetector {
 public:
  // Loads the strategy; throws InputError naming the file when it is missing
  // or does not load.
  explicit RfiDetector(const std::filesystem::path& strategy);
  ~RfiDetector();
  RfiDetector(RfiDetector&&) noexcept;
  RfiDetector& operator=(RfiDetector&&) noexcept;

  // Runs the strategy on one baseline plane (npol 1, 2 or 4) with `flags` as
  // the existing flags (excluded from detection by our strategy) and ORs the
  // result into `flags` (0 -> 1; non-zero values are kept), for every
  // correlation alike. Flagged samples are passed as 0 so that NaNs never
  // reach the filters.
  void detect(std::span<const Visibility> vis, std::span<std::uint8_t> flags,
              const PlaneShape& shape);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What dead-antenna detection looks at, per antenna.
struct AntennaActivity {
  bool present = false;              // has rows in the MS
  std::uint64_t cross_samples = 0;   // its cross-correlation samples
  std::uint64_t cross_flagged = 0;   // ... flagged after clipping and RFI detection
  double cross_amp_sum = 0;          // sum of |V| over its unflagged cross samples
  std::optional<double> auto_mean;   // mean |V| of its unflagged autocorrelation, if any
};

struct DeadAntennaCriteria {
  double dead_fraction = 0.8;    // flagged fraction above which it is dead
  double auto_ratio = 0.1;       // mean autocorrelation below this x the array median
  double zero_ratio = 1e-3;      // mean cross amplitude below this x the array median: "~0"
};

struct DeadAntenna {
  int antenna = 0;
  std::string reason;
};

// The present antennas that are dead by any criterion, in antenna order.
std::vector<DeadAntenna> find_dead_antennas(std::span<const AntennaActivity> antennas,
                                            const DeadAntennaCriteria& criteria);

// Flagged/total sample counters along one axis (antenna, SPW, channel, time).
struct FlagCounter {
  std::vector<std::uint64_t> total, before, after;
  explicit FlagCounter(std::size_t n = 0) : total(n), before(n), after(n) {}
  void add(std::size_t i, std::uint64_t n, std::uint64_t n_before, std::uint64_t n_after) {
    total[i] += n;
    before[i] += n_before;
    after[i] += n_after;
  }
};

}  // namespace contimg::flagging
