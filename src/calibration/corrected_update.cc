#include "calibration/corrected_update.h"

#include <chrono>

namespace contimg::calibration {

CorrectedDataUpdate::CorrectedDataUpdate(MsVisibilities& vis, std::filesystem::path ms)
    : ms_(std::move(ms)) {
  // A column just added is not flushed here: casacore would write all of
  // it as zeros first (BucketCache::flush initialises every bucket), 1.4 GB
  // and ~2.5 s of a full group before the caller's rows overwrite them.
  // Its cleared mark reaches the disk in the same table.dat write that
  // first records the column, so an interrupted apply still never looks
  // done. An existing column's mark is cleared on disk before any write.
  const bool added = vis.ensure_corrected_data();
  vis.set_applied_calset({}, /*flush=*/!added);
  pacer_ = std::make_unique<durable::WritebackPacer>(ms_);
}

void CorrectedDataUpdate::end_writes(MsVisibilities& vis) {
  vis.flush();
  pacer_->stop();
}

double CorrectedDataUpdate::commit(const std::string& calset_id) {
  pacer_.reset();
  const auto t0 = std::chrono::steady_clock::now();
  durable::sync_tree(ms_);
  MsVisibilities(ms_, /*writable=*/true).set_applied_calset(calset_id);
  durable::sync_tree(ms_);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace contimg::calibration
