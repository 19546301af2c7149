// ValidateStage on a synthetic image: the chain contract's outputs, the
// report carrying earlier stages' QA, and a rerun giving the same result.
#include "validation/validate_stage.h"
#include "orchestration/orchestrator.h"
#include "state/records.h"
#include "state/state_db.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "support/synthetic_image.h"

namespace contimg::validation {
namespace {
namespace fs = std::filesystem;

TEST(ValidateStage, FollowsTheChainContract) {
  const auto dir = fs::temp_directory_path() / fmt::format("contimg_vstage_{}", ::getpid());
  fs::remove_all(dir);
  const auto image = testing::write_synthetic(testing::make_synthetic_image({}), dir, "grp");
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults().with_override({"paths.state_db", (dir / "state.sqlite3").string(), "--set"}));
  ValidateStage stage(*cfg);
  pipeline::Context ctx(cfg, "grp",
                        {{"pbcor_fits", image.string()},
                         {"products_dir", (dir / "products").string()},
                         {"reference_catalogue", (dir / "grp.truth.json").string()},
                         {"flagged_fraction", 0.125},
                         {"calset_id", std::string("cal-2025-01-01")},
                         {"dead_antennas", std::vector<std::string>{"pad7"}}});
  stage.validate(ctx);
  const auto out = stage.execute(ctx);
  stage.validate_outputs(out);
  EXPECT_EQ(out.get_string("verdict"), "pass");
  EXPECT_FALSE(out.get_strings("verdict_reasons").empty());
  EXPECT_EQ(out.get_string("catalogue_fits"), (dir / "products" / "grp.sources.fits").string());
  EXPECT_TRUE(fs::exists(out.get_string("catalogue_csv")));
  std::stringstream html;
  html << std::ifstream(out.get_string("report_html")).rdbuf();
  EXPECT_NE(html.str().find("cal-2025-01-01"), std::string::npos);
  EXPECT_NE(html.str().find("pad7"), std::string::npos);
  EXPECT_NE(html.str().find("href=\"grp.sources.fits\""), std::string::npos) << "relative product links";
  // ':' is not in the base64 alphabet, so this cannot match inside an embedded PNG.
  EXPECT_EQ(html.str().find("http:"), std::string::npos) << "no network references";
  EXPECT_EQ(html.str().find("https:"), std::string::npos) << "no network references";
  const auto again = stage.execute(ctx);
  EXPECT_EQ(again.get_int("n_detections"), out.get_int("n_detections"));
  // Nothing but the products is left in the products directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "products")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"grp.report.html", "grp.sources.csv", "grp.sources.fits"}));
  // A missing reference is a configuration/input problem, named.
  pipeline::Context bad(cfg, "grp", {{"pbcor_fits", image.string()}, {"products_dir", dir.string()},
                                     {"reference_catalogue", (dir / "nope.json").string()}});
  EXPECT_THROW(stage.validate(bad), InputError);
  fs::remove_all(dir);
}

// D9 (issue 11): no reference catalogue anywhere (none in the context,
// validation.reference_catalogue unset) used to fail the stage — and with it
// the group, after imaging. Now source finding and the products still happen,
// the cross-match is reported as skipped with its reason, and the verdict is warn.
TEST(ValidateStage, WithoutAReferenceSkipsTheCrossMatchAndStillMakesTheProducts) {
  const auto dir = fs::temp_directory_path() / fmt::format("contimg_vstage_noref_{}", ::getpid());
  fs::remove_all(dir);
  const auto image = testing::write_synthetic(testing::make_synthetic_image({}), dir, "grp");
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults().with_override({"paths.state_db", (dir / "state.sqlite3").string(), "--set"}));
  ASSERT_TRUE(cfg->get_path("validation.reference_catalogue").empty());
  ValidateStage stage(*cfg);
  pipeline::Context ctx(cfg, "grp", {{"pbcor_fits", image.string()}, {"products_dir", (dir / "products").string()}});
  EXPECT_FALSE(stage.is_done(ctx));
  ASSERT_NO_THROW(stage.validate(ctx));
  const auto out = stage.execute(ctx);
  stage.validate_outputs(out);
  EXPECT_EQ(out.get_string("verdict"), "warn");
  const auto reasons = out.get_strings("verdict_reasons");
  ASSERT_FALSE(reasons.empty());
  EXPECT_EQ(reasons.front().rfind("warn: crossmatch: skipped: no reference catalogue", 0), 0u) << reasons.front();
  EXPECT_TRUE(std::any_of(reasons.begin(), reasons.end(),
                          [](const std::string& r) { return r.rfind("pass: image: MAD noise", 0) == 0; }));
  EXPECT_EQ(out.get_string("crossmatch").rfind("skipped: no reference catalogue", 0), 0u) << out.get_string("crossmatch");
  EXPECT_GT(out.get_int("n_detections"), 10) << "source finding ran";
  EXPECT_TRUE(fs::exists(out.get_string("catalogue_fits")));
  EXPECT_TRUE(fs::exists(out.get_string("catalogue_csv")));
  std::stringstream html;
  html << std::ifstream(out.get_string("report_html")).rdbuf();
  EXPECT_NE(html.str().find("Skipped: no reference catalogue"), std::string::npos);
  const auto metrics = nlohmann::json::parse(out.get_string("validation_metrics"));
  EXPECT_EQ(metrics["crossmatch"]["status"], "skipped");
  // Returned as records (the stage never opens the database); once stored, a
  // resumed chain skips the stage and gets the same outputs back.
  EXPECT_FALSE(fs::exists(dir / "state.sqlite3")) << "the validate stage opened the state database";
  state::StateDb db(dir / "state.sqlite3");
  for (const auto& r : out.records()) state::store_record(db, *r, {"grp", "validate", dir.string()});
  const orchestration::DbStateView view(db, dir.string());
  EXPECT_FALSE(stage.is_done(ctx)) << "no view, no state";
  ctx = ctx.with_state(&view);
  EXPECT_TRUE(stage.is_done(ctx));
  const auto restored = stage.restore(ctx);
  EXPECT_EQ(restored.get_string("verdict"), "warn");
  EXPECT_EQ(restored.get_string("crossmatch"), out.get_string("crossmatch"));
  // With a reference given later the stored validation is not the one asked for.
  pipeline::Context with_ref(cfg, "grp", {{"pbcor_fits", image.string()}, {"products_dir", (dir / "products").string()},
                                          {"reference_catalogue", (dir / "grp.truth.json").string()}});
  with_ref = with_ref.with_state(&view);
  EXPECT_FALSE(stage.is_done(with_ref));
  const auto checked = stage.execute(with_ref);
  EXPECT_EQ(checked.get_string("crossmatch"), "done");
  EXPECT_EQ(checked.get_string("verdict"), "pass");
  fs::remove_all(dir);
}

TEST(CrossMatch, WithoutReferenceIsWarnOrFailNeverPass) {
  const auto ok = without_reference(3, 1e-3, 0.5, "no reference catalogue");
  EXPECT_EQ(ok.verdict, Verdict::kWarn);
  EXPECT_TRUE(ok.crossmatch_skipped);
  ASSERT_EQ(ok.reasons.size(), 2u);
  EXPECT_EQ(ok.reasons[0].rfind("warn: crossmatch: skipped: no reference catalogue", 0), 0u);
  const auto blank = without_reference(0, 0.0, 0.0, "no reference catalogue");
  EXPECT_EQ(blank.verdict, Verdict::kFail);
  EXPECT_EQ(blank.reasons.front().rfind("fail: image:", 0), 0u);
  EXPECT_EQ(to_json(ok)["crossmatch"]["reason"], "no reference catalogue");
  EXPECT_EQ(to_json(cross_match({}, {}, QaThresholds{}))["crossmatch"]["status"], "done");
}

}  // namespace
}  // namespace contimg::validation
