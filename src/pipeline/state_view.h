#pragma once
// What a stage may read of the state database (issue 11): a read-only view
// the orchestrator hands it through the context, scoped to the job's output
// tree. Stages never open the database; a stage run without a view (a unit
// test, a library call) sees an empty state.
#include <optional>
#include <string>
#include <vector>

#include "state/calsets.h"
#include "state/flag_stats.h"
#include "state/images.h"
#include "state/validation_records.h"

namespace contimg::pipeline {

class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<state::FlagRunRecord> flag_run(const std::string& ms_path) const = 0;
  // By id: the tree's own set, else one made before trees.
  virtual std::optional<state::CalsetRecord> calset(const std::string& id) const = 0;
  // The passed set of this tree valid at `time_s` and nearest to it.
  virtual std::optional<state::CalsetRecord> nearest_valid_calset(double time_s) const = 0;
  // Every calibration set of the registry, of every tree (the history a new
  // set is compared with).
  virtual std::vector<state::CalsetRecord> calsets() const = 0;
  virtual std::optional<state::ImageRecord> image(const std::string& group_id) const = 0;
  virtual std::optional<state::ValidationRecord> validation(const std::string& group_id) const = 0;
};

}  // namespace contimg::pipeline
