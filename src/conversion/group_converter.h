#pragma once
// Group -> one Measurement Set (SPEC §4), written directly with casacore: no
// per-subband MS, no concatenation. Subband reads run ahead of the MS writer
// (bounded double buffering), so reading and writing overlap.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "astro/site_data.h"
#include "conversion/subband_set.h"
#include "io/ms/ms_storage.h"
#include "io/uvh5/cache_profile.h"

namespace contimg {
class InterruptGuard;
class Progress;
}  // namespace contimg

namespace contimg::conversion {

// A calibrator that may rename a field (the converter needs only this much).
struct CalibratorRef {
  std::string name;
  double ra_rad = 0, dec_rad = 0;  // J2000/ICRS
  double flux_jy = 0;              // at 1.4 GHz
};

struct ConversionOptions {
  bool merge_spws = false;         // one 768-channel SPW instead of 16
  bool allow_incomplete = false;   // missing subbands become flagged SPWs
  int expected_subbands = 16;
  int min_subbands = 12;
  bool parallel_io = true;
  int io_batch_size = 4;           // subband reads in flight at once
  int max_workers = 0;             // reader threads; 0 = hardware concurrency
  std::filesystem::path stage_dir;   // empty: tmpfs when it has room, else beside the output
  std::filesystem::path tmpfs_dir;   // candidate RAM staging area ("" = never)
  double calibrator_radius_deg = 1.0;  // field rename: calibrator within this of a field
  double duration_min_s = 296.0, duration_max_s = 309.5;  // verification window
  // fsync the MS before the rename that publishes it, and the output
  // directory after (conversion.durable): a published MS survives a power cut.
  // Writeback is started while the MS is written, so the fsync mostly waits
  // for nothing.
  bool durable = true;
  ms::StorageOptions storage;
  uvh5::CacheProfiles cache_profiles;
  std::vector<std::string> command_line;  // for HISTORY
};

struct ConversionResult {
  std::string group_id;
  std::filesystem::path ms_path;
  std::filesystem::path staged_in;  // the staging area used
  bool staged_in_tmpfs = false;
  std::vector<int> missing_subbands;
  std::string calibrator_field;     // renamed field, if any
  std::uint64_t rows = 0;
  std::uint64_t bytes_read = 0;     // input file bytes
  std::uint64_t bytes_written = 0;  // MS size on disk
  double seconds_total = 0, seconds_read_wait = 0, seconds_write = 0, seconds_verify = 0,
         seconds_sync = 0, seconds_publish = 0;
};

class GroupConverter {
 public:
  GroupConverter(const astro::SiteData& site, std::vector<CalibratorRef> calibrators,
                 ConversionOptions options);

  // Writes <output_dir>/<group_id>.ms, replacing an existing one atomically.
  // Reader threads: conversion.max_workers capped by `thread_budget` (> 0;
  // 0 = the machine's cores).
  // Throws InputError (bad or incomplete input), IoError (disk), Cancelled;
  // on every failure the output path is untouched and staging is removed.
  ConversionResult convert(const std::string& group_id, const std::vector<SubbandFile>& files,
                           const std::filesystem::path& output_dir,
                           const InterruptGuard* interrupts = nullptr,
                           Progress* progress = nullptr, int thread_budget = 0) const;

  const ConversionOptions& options() const { return options_; }

 private:
  const astro::SiteData& site_;
  std::vector<CalibratorRef> calibrators_;
  ConversionOptions options_;
};

// Bytes a group's MS will take (DATA + FLAG + WEIGHT_SPECTRUM + per-row columns).
std::uint64_t estimate_ms_bytes(std::uint64_t rows_per_spw, int nspw, int nchan, int npol);

}  // namespace contimg::conversion
