#pragma once
// The calibration layer's MS access, on io/ms's CasaTable: reads an MS one
// spectral window at a time (all integrations and baselines of that SPW: the
// converter's tiles are aligned to exactly these blocks, docs/ms-layout.md)
// into plain buffers, only the columns asked for, and writes CORRECTED_DATA
// and FLAG back.
#include <array>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "calibration/direction.h"

namespace contimg::calibration {

struct MsMeta {
  std::filesystem::path path;
  std::vector<std::string> antenna_names;  // ANTENNA rows
  std::vector<std::array<double, 3>> antenna_positions;  // ITRF m
  std::vector<std::vector<double>> chan_freq;  // per SPW, Hz
  int npol = 0;
  std::vector<Direction> field_dir;  // PHASE_DIR per FIELD row
  std::vector<std::string> field_names;
  double time_first = 0, time_last = 0;  // row TIME range, MJD s
  double interval = 0;                    // INTERVAL of the first row, s
  int nant() const { return static_cast<int>(antenna_names.size()); }
  int nspw() const { return static_cast<int>(chan_freq.size()); }
};

// All rows of one SPW; arrays are [row][chan][pol] as in casacore's memory.
struct VisBlock {
  int spw = 0;
  std::size_t nrows = 0, nchan = 0, npol = 0;
  std::vector<int> ant1, ant2, field;
  std::vector<double> time;                  // MJD s
  std::vector<double> uvw;                   // [row][3], m
  std::vector<std::complex<float>> data;     // DATA (or CORRECTED_DATA when written)
  std::vector<std::uint8_t> flag;            // non-zero = flagged
  std::vector<float> weight;                 // WEIGHT_SPECTRUM (else WEIGHT per channel)
};

class MsVisibilities {
 public:
  // Throws InputError naming the MS when it is not a readable MS or lacks
  // DATA, FLAG, UVW or the subtables needed.
  explicit MsVisibilities(const std::filesystem::path& ms, bool writable = false);
  ~MsVisibilities();
  MsVisibilities(const MsVisibilities&) = delete;
  MsVisibilities& operator=(const MsVisibilities&) = delete;

  const MsMeta& meta() const;
  bool has_rows(int spw) const;
  // `weights` false: the block's weight stays empty and WEIGHT_SPECTRUM is
  // not read (applying a solution does not need it: a third of the bytes).
  VisBlock read_spw(int spw, bool weights = true);

  // Adds CORRECTED_DATA with DATA's storage manager and tile shape when
  // absent; true when it added it. Does not flush. A caller about to write
  // every row should not flush before it does: casacore would first write
  // each bucket of the new column as zeros (1.4 GB for a full group;
  // CorrectedDataUpdate).
  bool ensure_corrected_data();
  // Writes block.data to CORRECTED_DATA and block.flag to FLAG for the SPW's rows.
  void write_corrected(const VisBlock& block);
  // Writes rows [row0, row0 + nrows) of CORRECTED_DATA and FLAG, each
  // [row][chan][pol] (the image stage's pass, which calibrates a block of
  // rows at a time). Throws InputError when the sizes disagree.
  void write_corrected_rows(std::uint64_t row0, std::size_t nrows, std::size_t nchan,
                            std::size_t npol, std::span<const std::complex<float>> data,
                            std::span<const std::uint8_t> flag);
  void flush();

  // The calibration set whose solutions CORRECTED_DATA holds (MS keyword
  // CONTIMG_APPLIED_CALSET), empty when none or when CORRECTED_DATA is absent.
  // Cleared before an apply writes and set only once CORRECTED_DATA is fsynced
  // (CorrectedDataUpdate), so an interrupted apply never looks done.
  std::string applied_calset() const;
  // `flush` false: the mark changes in memory only and reaches the disk with
  // the table's next flush (CorrectedDataUpdate, for a column just added).
  void set_applied_calset(const std::string& calset_id, bool flush = true);

  std::uint64_t bytes_read() const;
  std::uint64_t bytes_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace contimg::calibration
