#include "common/statistics.h"

#include <gtest/gtest.h>

namespace contimg {
namespace {

TEST(Median, OddEvenAndEmpty) {
  EXPECT_EQ(median({}), 0.0);
  EXPECT_EQ(median({3, 1, 2}), 2.0);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median({5}), 5.0);
}

}  // namespace
}  // namespace contimg
