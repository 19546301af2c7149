#include "cli/chain_output.h"

#include <gtest/gtest.h>

namespace contimg::cli {
namespace {

chain::GroupResult group(const std::string& status, const std::string& kind = "") {
  chain::GroupResult g;
  g.group_id = "g";
  g.status = status;
  if (!kind.empty()) {
    pipeline::StageRecord r;
    r.stage = "image";
    r.outcome = pipeline::Outcome::kFailed;
    r.error_kind = kind;
    g.stages.push_back(r);
  }
  return g;
}

// A run whose failures are all the environment's exits 4 (a rerun after the
// fix completes them); any other failure makes it 1.
TEST(ChainExitCode, IoFailuresAloneAreFourOtherFailuresOne) {
  chain::ChainSummary s;
  s.groups = {group("processed")};
  EXPECT_EQ(chain_exit_code(s), 0);
  s.groups.push_back(group("failed", "io"));
  EXPECT_EQ(chain_exit_code(s), 4);
  s.groups.push_back(group("failed", "input"));
  EXPECT_EQ(chain_exit_code(s), 1);
}

}  // namespace
}  // namespace contimg::cli
