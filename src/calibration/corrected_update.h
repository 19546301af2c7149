#pragma once
// CORRECTED_DATA written in place into a group's MS — by applycal's own pass
// and by the image stage's pass (calibration.apply_in_image_pass): the one
// protocol both follow.
// - Begin (the constructor): the column added when absent, the MS's
//   applied-set mark cleared, the writeback paced while the caller writes.
// - end_writes(): after the last block, flushed; the caller then closes its
//   MsVisibilities (an MS open for update keeps every other process that
//   opens it waiting on its table lock).
// - commit(): the MS fsynced, then reopened, marked with the set and fsynced
//   again: the mark never stands for data not yet on disk, and a run that
//   stops before commit leaves the MS unmarked (the next run applies again).
#include <filesystem>
#include <memory>
#include <string>

#include "calibration/ms_access.h"
#include "common/durable.h"

namespace contimg::calibration {

class CorrectedDataUpdate {
 public:
  // `vis`: the MS at `ms`, opened writable.
  CorrectedDataUpdate(MsVisibilities& vis, std::filesystem::path ms);
  void end_writes(MsVisibilities& vis);
  // Returns the seconds of the fsyncs and the mark. Call with the caller's
  // MsVisibilities closed.
  double commit(const std::string& calset_id);

 private:
  std::filesystem::path ms_;
  std::unique_ptr<durable::WritebackPacer> pacer_;
};

}  // namespace contimg::calibration
