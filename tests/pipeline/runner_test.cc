#include "pipeline/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/interrupts.h"
#include "support/tiny_uvh5.h"

namespace contimg::pipeline {
namespace {

namespace fs = std::filesystem;

// A configurable stage that records what the runner did with it.
class ProbeStage : public Stage {
 public:
  struct Log {
    std::vector<std::string> calls;
    fs::path scratch;
    bool cleanup_succeeded = false;
  };
  enum class Mode { kOk, kThrowInput, kThrowInternal, kBadOutput, kDone, kInterrupt };

  ProbeStage(std::string name, Mode mode, Log& log, InterruptGuard* guard = nullptr)
      : name_(std::move(name)), mode_(mode), log_(log), guard_(guard) {}

  std::string name() const override { return name_; }
  bool is_done(const Context&) const override {
    log_.calls.push_back(name_ + ":is_done");
    return mode_ == Mode::kDone;
  }
  Context restore(const Context& ctx) const override {
    log_.calls.push_back(name_ + ":restore");
    return ctx.with_output(name_ + ".product", std::string("restored"));
  }
  void validate(const Context&) const override { log_.calls.push_back(name_ + ":validate"); }
  Context execute(const Context& ctx) override {
    log_.calls.push_back(name_ + ":execute");
    log_.scratch = ctx.scratch_dir();
    std::ofstream(ctx.scratch_dir() / "partial.tmp") << "half-written";
    // Allocate and touch ~64 MiB so the peak is visible.
    std::vector<char> big(64u << 20, 1);
    volatile char sink = big[big.size() / 2];
    (void)sink;
    if (mode_ == Mode::kThrowInput) throw InputError("x_sb01.hdf5: Data/visdata: missing dataset");
    if (mode_ == Mode::kThrowInternal) throw std::runtime_error("bug");
    if (mode_ == Mode::kInterrupt) {
      guard_->simulate(SIGTERM);
      ctx.throw_if_interrupted();
    }
    return ctx.with_output(name_ + ".product", std::string("done"))
        .with_io(50'000'000, 25'000'000);
  }
  void validate_outputs(const Context& ctx) const override {
    log_.calls.push_back(name_ + ":validate_outputs");
    if (mode_ == Mode::kBadOutput) throw InputError("output check failed");
    EXPECT_EQ(ctx.get_string(name_ + ".product"), "done");
  }
  void cleanup(const Context&, bool succeeded) noexcept override {
    log_.calls.push_back(name_ + ":cleanup");
    log_.cleanup_succeeded = succeeded;
  }

 private:
  std::string name_;
  Mode mode_;
  Log& log_;
  InterruptGuard* guard_;
};

class RunnerTest : public ::testing::Test {
 protected:
  Context context() {
    auto cfg = std::make_shared<const config::Config>(config::Config::defaults().with_override(
        {"paths.scratch_dir", (dir_ / "scratch").string(), "test"}));
    return Context(cfg, "2025-01-01T00:00:00", {{"input_dir", std::string("/in")}});
  }
  std::vector<std::unique_ptr<Stage>> chain(std::initializer_list<std::pair<std::string, ProbeStage::Mode>> spec,
                                            InterruptGuard* guard = nullptr) {
    std::vector<std::unique_ptr<Stage>> out;
    for (const auto& [name, mode] : spec) {
      logs_.emplace_back(std::make_unique<ProbeStage::Log>());
      out.push_back(std::make_unique<ProbeStage>(name, mode, *logs_.back(), guard));
    }
    return out;
  }
  bool scratch_empty() const {
    return !fs::exists(dir_ / "scratch") || fs::is_empty(dir_ / "scratch");
  }
  test::TempDir dir_;
  std::vector<std::unique_ptr<ProbeStage::Log>> logs_;
};

TEST_F(RunnerTest, RunsLifecycleInOrderAndPassesOutputsOn) {
  const auto stages = chain({{"a", ProbeStage::Mode::kOk}, {"b", ProbeStage::Mode::kOk}});
  const RunReport r = StageRunner().run(stages, context());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(logs_[0]->calls, (std::vector<std::string>{"a:is_done", "a:validate", "a:execute",
                                                        "a:validate_outputs", "a:cleanup"}));
  EXPECT_TRUE(logs_[0]->cleanup_succeeded);
  ASSERT_TRUE(r.final_context);
  EXPECT_EQ(r.final_context->get_string("a.product"), "done");
  EXPECT_EQ(r.final_context->get_string("b.product"), "done");
  EXPECT_EQ(r.final_context->get_string("input_dir"), "/in");
  EXPECT_EQ(r.final_context->io().bytes_read, 100'000'000u);
}

TEST_F(RunnerTest, RecordsTimeVolumeThroughputAndMemory) {
  const auto stages = chain({{"a", ProbeStage::Mode::kOk}});
  const RunReport r = StageRunner().run(stages, context());
  ASSERT_EQ(r.stages.size(), 1u);
  const auto& s = r.stages[0];
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_GT(s.seconds, 0.0);
  EXPECT_EQ(s.bytes_read, 50'000'000u);
  EXPECT_EQ(s.bytes_written, 25'000'000u);
  EXPECT_DOUBLE_EQ(s.mb_per_s(), 75.0 / s.seconds);
  EXPECT_GT(s.rss_before, 0u);
  EXPECT_GE(s.peak_rss, s.rss_before + (60u << 20)) << "the 64 MiB allocation is in the peak";
  const auto j = r.to_json();
  EXPECT_EQ(j["stages"][0]["outcome"], "completed");
  EXPECT_EQ(j["group_id"], "2025-01-01T00:00:00");
}

TEST_F(RunnerTest, ScratchDirectoryIsRemovedOnSuccessAndOnFailure) {
  for (auto mode : {ProbeStage::Mode::kOk, ProbeStage::Mode::kThrowInput,
                    ProbeStage::Mode::kThrowInternal, ProbeStage::Mode::kBadOutput}) {
    logs_.clear();
    const auto stages = chain({{"a", mode}});
    StageRunner().run(stages, context());
    ASSERT_FALSE(logs_[0]->scratch.empty());
    EXPECT_FALSE(fs::exists(logs_[0]->scratch)) << "scratch left behind";
    EXPECT_TRUE(scratch_empty());
    EXPECT_EQ(logs_[0]->calls.back(), "a:cleanup");
  }
}

TEST_F(RunnerTest, FailureStopsTheChainAndNamesTheReason) {
  const auto stages = chain({{"convert", ProbeStage::Mode::kThrowInput}, {"image", ProbeStage::Mode::kOk}});
  const RunReport r = StageRunner().run(stages, context());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.final_context);
  EXPECT_EQ(r.stages[0].outcome, Outcome::kFailed);
  EXPECT_EQ(r.stages[0].error_kind, "input");
  EXPECT_THAT(r.stages[0].error, ::testing::HasSubstr("Data/visdata"));
  EXPECT_FALSE(logs_[0]->cleanup_succeeded);
  EXPECT_EQ(r.stages[1].outcome, Outcome::kNotRun);
  EXPECT_TRUE(logs_[1]->calls.empty());
}

TEST_F(RunnerTest, OutputValidationFailureFailsTheStage) {
  const auto stages = chain({{"a", ProbeStage::Mode::kBadOutput}});
  const RunReport r = StageRunner().run(stages, context());
  EXPECT_EQ(r.stages[0].outcome, Outcome::kFailed);
  EXPECT_FALSE(logs_[0]->cleanup_succeeded);
}

TEST_F(RunnerTest, FinishedStagesAreSkipped) {
  const auto stages = chain({{"a", ProbeStage::Mode::kDone}, {"b", ProbeStage::Mode::kOk}});
  const RunReport r = StageRunner().run(stages, context());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.stages[0].outcome, Outcome::kSkipped);
  EXPECT_EQ(logs_[0]->calls, (std::vector<std::string>{"a:is_done", "a:restore"}));
  EXPECT_EQ(r.stages[1].outcome, Outcome::kCompleted);
  // Later stages (and the caller) see the skipped stage's restored outputs.
  EXPECT_EQ(r.final_context->get_string("a.product"), "restored");
}

TEST_F(RunnerTest, InterruptCancelsAndCleansUp) {
  InterruptGuard guard;
  const auto stages = chain({{"a", ProbeStage::Mode::kInterrupt}, {"b", ProbeStage::Mode::kOk}}, &guard);
  auto cfg = std::make_shared<const config::Config>(config::Config::defaults().with_override(
      {"paths.scratch_dir", (dir_ / "scratch").string(), "test"}));
  const Context ctx(cfg, "g", {}, &guard);
  const RunReport r = StageRunner(&guard).run(stages, ctx);
  EXPECT_EQ(r.stages[0].outcome, Outcome::kCancelled);
  EXPECT_EQ(r.stages[1].outcome, Outcome::kNotRun);
  EXPECT_TRUE(scratch_empty());
}

TEST(ContextTest, IsImmutable) {
  auto cfg = std::make_shared<const config::Config>(config::Config::defaults());
  const Context a(cfg, "g", {{"n", std::int64_t{3}}});
  const Context b = a.with_output("x", 1.5).with_io(10, 20);
  EXPECT_FALSE(a.has("x"));
  EXPECT_EQ(a.io().bytes_read, 0u);
  EXPECT_EQ(b.get_double("x"), 1.5);
  EXPECT_EQ(b.get_double("n"), 3.0);
  EXPECT_EQ(b.io().bytes_written, 20u);
  EXPECT_THROW(b.get_string("n"), std::out_of_range);
  EXPECT_THROW(b.get_string("absent"), std::out_of_range);
}

}  // namespace
}  // namespace contimg::pipeline
