#include "state/records.h"

namespace contimg::state {

void store_record(StateDb& db, const DomainRecord& record, const RecordScope& scope) {
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, FlagRunRecords>) {
          record_flag_run(db.database(), r.run, r.stats);
        } else if constexpr (std::is_same_v<T, CalsetRecord>) {
          CalsetRecord c = r;
          c.out_root = scope.out_root;
          upsert_calset(db, c);
        } else if constexpr (std::is_same_v<T, ImageRecord>) {
          ImageRecord i = r;
          i.out_root = scope.out_root;
          upsert_image(db, i);
        } else if constexpr (std::is_same_v<T, ValidationRecords>) {
          ValidationRecord v = r.validation;
          v.out_root = scope.out_root;
          save_validation(db.database(), v, r.detections);
        } else if constexpr (std::is_same_v<T, PhotometryRecords>) {
          store_photometry(db.database(), r, scope.out_root);
        } else {
          db.record_event(scope.group_id, scope.stage, r.level, r.message);
        }
      },
      record.value);
}

}  // namespace contimg::state
