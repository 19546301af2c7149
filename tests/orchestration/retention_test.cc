// Retention (issue 12): which products a policy removes.
#include <gtest/gtest.h>

#include <cmath>

#include "orchestration/retention.h"

namespace contimg::orchestration {
namespace {

state::ProductRecord product(std::string path, std::string kind, std::string group,
                             std::string made) {
  state::ProductRecord p;
  p.path = std::move(path);
  p.kind = std::move(kind);
  p.group_id = std::move(group);
  p.created_at = std::move(made);
  return p;
}

TEST(Retention, IsoTimesParse) {
  EXPECT_DOUBLE_EQ(iso_to_unix("1970-01-01T00:00:10.500Z"), 10.5);
  EXPECT_DOUBLE_EQ(iso_to_unix("2025-01-01T06:00:00.000Z"), 1735711200.0);
  EXPECT_TRUE(std::isnan(iso_to_unix("yesterday")));
}

TEST(Retention, OnlyOldProductsOfProcessedGroupsInTheTreeGo) {
  const double now = iso_to_unix("2025-01-02T00:00:00.000Z");
  const std::vector<state::ProductRecord> all = {
      product("/out/ms/a.ms", "ms", "a", "2025-01-01T00:00:00.000Z"),      // 24 h old: goes
      product("/out/ms/b.ms", "ms", "b", "2025-01-01T23:00:00.000Z"),      // 1 h old: kept
      product("/out/ms/c.ms", "ms", "c", "2025-01-01T00:00:00.000Z"),      // group not processed
      product("/other/ms/a2.ms", "ms", "a", "2025-01-01T00:00:00.000Z"),   // another tree
      product("/out/ms/cal.ms", "ms", "cal", "2025-01-01T00:00:00.000Z"),  // a calibrator's MS
      product("/out/products/a/a.image.fits", "image", "a", "2025-01-01T00:00:00.000Z"),
      product("/out/products/a/a.cat.fits", "catalogue", "a", "2025-01-01T00:00:00.000Z"),  // never
      product("/out/ms/d.ms", "ms", "d", "garbage"),  // unknown age: kept
  };
  RetentionPolicy p;
  p.ms_hours = 12;
  const auto gone =
      expired_products(all, p, now, "/out", {"a", "b", "cal", "d"}, {"/out/ms/cal.ms"});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].path, "/out/ms/a.ms");
  p.images_hours = 1;
  const auto gone2 =
      expired_products(all, p, now, "/out", {"a", "b", "cal", "d"}, {"/out/ms/cal.ms"});
  ASSERT_EQ(gone2.size(), 2u);
  EXPECT_EQ(gone2[1].path, "/out/products/a/a.image.fits");
  EXPECT_TRUE(expired_products(all, RetentionPolicy{}, now, "/out", {"a", "b"}, {}).empty())
      << "off by default";
}

}  // namespace
}  // namespace contimg::orchestration
