// The validations/detections tables: a rerun replaces a group's rows.
#include "state/validation_records.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "state/state_db.h"
#include "support/backends.h"

namespace contimg::state {
namespace {
namespace fs = std::filesystem;

class ValidationRecords : public test::BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, ValidationRecords, CONTIMG_BOTH_BACKENDS);

TEST_P(ValidationRecords, SavingAgainReplacesTheGroupsRows) {
  StateDb db(target("s.sqlite3"));
  ValidationRecord v;
  v.group_id = "2025-01-01T06:00:00";
  v.image_path = "/x/img.pbcor.fits";
  v.reference = "/x/truth.json";
  v.verdict = "warn";
  v.reasons = {"warn: flux scale: ...", "pass: astrometry: ..."};
  v.metrics_json = "{}";
  v.n_detections = 3;
  DetectionRow d;
  d.ra_deg = 10;
  d.snr = 7;
  save_validation(db.database(), v, {d, d, d});
  v.verdict = "pass";
  v.n_detections = 2;
  save_validation(db.database(), v, {d, d});
  const auto got = load_validation(db.database(), v.group_id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->verdict, "pass");
  EXPECT_EQ(got->reasons, v.reasons);
  EXPECT_EQ(load_detections(db.database(), v.group_id).size(), 2u);
  auto st = db.database().prepare("SELECT COUNT(*) FROM validations");
  st.step();
  EXPECT_EQ(st.get_int(0), 1);
  EXPECT_FALSE(load_validation(db.database(), "other"));
  // A bad verdict is refused by the schema.
  v.verdict = "maybe";
  EXPECT_ANY_THROW(save_validation(db.database(), v, {}));
  EXPECT_EQ(load_validation(db.database(), v.group_id)->verdict, "pass");
}

}  // namespace
}  // namespace contimg::state
