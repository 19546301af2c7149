#pragma once
// What a stage returns for the state database (issue 11): plain records, no
// connection. A stage adds them to its output context
// (pipeline::Context::with_record); the orchestrator stores them in the
// transaction that marks the stage's job done, scoped to the job's output
// tree — so a stage's rows exist exactly when its job is done, and two
// output trees sharing one database keep their own rows.
#include <string>
#include <variant>
#include <vector>

#include "state/calsets.h"
#include "state/flag_stats.h"
#include "state/images.h"
#include "state/photometry_store.h"
#include "state/state_db.h"
#include "state/validation_records.h"

namespace contimg::state {

struct FlagRunRecords {
  FlagRunRecord run;
  std::vector<FlagStatRow> stats;
};

struct ValidationRecords {
  ValidationRecord validation;
  std::vector<DetectionRow> detections;
};

// A line of the group's event log (the orchestrator adds group and stage).
struct EventNote {
  EventLevel level = EventLevel::kInfo;
  std::string message;
};

struct DomainRecord {
  std::variant<FlagRunRecords, CalsetRecord, ImageRecord, ValidationRecords, PhotometryRecords, EventNote> value;
};

// Where a record belongs: the job's group, stage and output tree.
struct RecordScope {
  std::string group_id;
  std::string stage;
  std::string out_root;
};

// Stores one record (inside the caller's transaction when there is one).
// Calibration sets, images and validations get scope.out_root.
void store_record(StateDb& db, const DomainRecord& record, const RecordScope& scope);

}  // namespace contimg::state
