#include "common/hash.h"

#include <gtest/gtest.h>

#include "orchestration/orchestrator.h"

namespace contimg {
namespace {

// The published FNV-1a 64 test vectors: the orchestrator's fingerprints said
// "FNV-1a" but used a wrong offset basis (one digit short) until they called
// this one implementation, which the flagging strategy hash already used.
TEST(Fnv1a64, MatchesThePublishedVectors) {
  EXPECT_EQ(fnv1a64_hex(""), "cbf29ce484222325");
  EXPECT_EQ(fnv1a64_hex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(fnv1a64_hex("foobar"), "85944171f73967e8");
  EXPECT_EQ(orchestration::fingerprint_of("foobar"), "85944171f73967e8");
  Fnv1a64 h;
  h.add("foo");
  h.add("bar");
  EXPECT_EQ(h.hex(), "85944171f73967e8");  // incremental = one piece
}

}  // namespace
}  // namespace contimg
