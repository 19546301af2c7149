#pragma once
// What a stage may read of the state database (issue 11): a read-only view
// the orchestrator hands it through the context, scoped to the job's output
// tree. Stages never open the database; a stage run without a view (a unit
// test, a library call) sees an empty state.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "state/calsets.h"
#include "state/flag_stats.h"
#include "state/images.h"
#include "state/photometry_store.h"
#include "state/validation_records.h"

namespace contimg::pipeline {

class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<state::FlagRunRecord> flag_run(const std::string& ms_path) const = 0;
  // By id: the tree's own set, else one made before trees.
  virtual std::optional<state::CalsetRecord> calset(const std::string& id) const = 0;
  // The passed sets valid at `time_s`: this tree's when it has any, else
  // every tree's (state::valid_calsets); calibration chooses among them.
  virtual std::vector<state::CalsetRecord> valid_calsets(double time_s) const = 0;
  // The passed sets of every tree solved before `time_s`, newest first, until
  // `visit` returns false (the history a new set is compared with).
  virtual void visit_passed_calsets_before(double time_s,
                                           const std::function<bool(const state::CalsetRecord&)>& visit) const = 0;
  virtual std::optional<state::ImageRecord> image(const std::string& group_id) const = 0;
  virtual std::optional<state::ValidationRecord> validation(const std::string& group_id) const = 0;
  // The running source catalogue (issue 15) within `radius_deg` of a position.
  virtual std::vector<state::SourceRow> sources_in_cone(double ra_deg, double dec_deg, double radius_deg) const = 0;
  // The measurements of an image (absolute path) in this tree, if it was measured.
  virtual std::optional<state::MeasuredImage> measured_image(const std::string& path) const = 0;
};

}  // namespace contimg::pipeline
