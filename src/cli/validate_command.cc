// `contimg validate IMAGE.pbcor.fits --reference REF [--out DIR] [--group ID]`:
// source finding, cross-match QA, catalogue and HTML report for one image
// (SPEC §7), through the same ValidateStage the chain runs. Exit 0 for a pass
// or warn verdict, 1 for fail.
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/single_stage.h"
#include "state/state_db.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "pipeline/runner.h"
#include "validation/validate_stage.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct ValidateOptions {
  std::string image, reference, out_dir, group, pb;
};

// "<dir>/<group>.pbcor.fits" -> "<group>"; other names lose their extension.
std::string group_from_image(const fs::path& image) {
  auto name = image.filename().string();
  for (const char* suffix : {".pbcor.fits", "-pbcor.fits", ".fits"}) {
    if (name.size() > std::string(suffix).size() && name.ends_with(suffix)) {
      return name.substr(0, name.size() - std::string(suffix).size());
    }
  }
  return image.stem().string();
}

}  // namespace

void register_validate_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ValidateOptions>();
  auto* cmd = app.add_subcommand(
      "validate", "Find sources in a PB-corrected image, cross-match them with a reference catalogue, "
                  "write the catalogue (FITS, CSV) and the HTML report; exit 1 when the verdict is fail");
  cmd->add_option("image", o->image, "PB-corrected FITS image")->required()->check(CLI::ExistingFile);
  cmd->add_option("--reference", o->reference,
                  "Reference: sky-model/truth JSON, NVSS FITS/CSV, or a catalogue store "
                  "(default: validation.reference_catalogue)");
  cmd->add_option("--out", o->out_dir, "Directory for the products (default: beside the image)");
  cmd->add_option("--group", o->group, "Group id for the products and the state database (default: from the image name)");
  cmd->add_option("--pb", o->pb,
                  "Primary-beam FITS the image was divided by: noise maps then follow 1/PB "
                  "(default: <group>.pb.fits beside the image, when it exists; \"none\" to ignore it)");
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      const fs::path image = fs::absolute(o->image).lexically_normal();
      state::StateDb db(state::StateDb::resolve_path(ctx.config()));
      // An image the pipeline made belongs to its job's group and tree; any
      // other is --group's, else named by its file (it has no other identity).
      const auto reg = registered_job(db, image);
      if (reg && !o->group.empty() && o->group != reg->group_id) {
        throw InputError(fmt::format("{}: registered as the image of group {}, not {} (--group)", image.string(),
                                     reg->group_id, o->group));
      }
      const std::string group = reg ? reg->group_id : !o->group.empty() ? o->group : group_from_image(image);
      const fs::path out = o->out_dir.empty() ? image.parent_path() : fs::absolute(o->out_dir).lexically_normal();
      // Products beside the image of a registered job stay in its tree; elsewhere the products' directory is it.
      const fs::path tree = reg && o->out_dir.empty() ? reg->out_root : out;
      std::map<std::string, pipeline::Value> inputs = {{"pbcor_fits", image.string()}, {"products_dir", out.string()}};
      if (!o->reference.empty()) inputs["reference_catalogue"] = fs::absolute(o->reference).string();
      // The image beside a WSClean-style pbcor product, when there is one.
      const auto plain = image.parent_path() / (group + ".fits");
      if (plain != image && fs::exists(plain)) inputs["image_fits"] = plain.string();
      if (o->pb != "none") {
        const fs::path pb = o->pb.empty() ? image.parent_path() / (group + ".pb.fits") : fs::absolute(o->pb);
        if (!o->pb.empty() && !fs::exists(pb)) throw InputError(fmt::format("--pb {}: no such file", pb.string()));
        if (fs::exists(pb)) inputs["pb_fits"] = pb.string();
      }
      pipeline::Context initial(ctx.shared_config(), group, inputs, &ctx.interrupts());
      validation::ValidateStage stage(ctx.config());
      // An explicit validate always validates again.
      const auto res = run_stage_job(ctx, db, stage, initial, tree, /*force=*/true, "validate " + image.string());
      const auto& c = *res.context;
      const double seconds = res.record.seconds;
      const auto verdict = c.get_string("verdict");
      if (ctx.json()) {
        nlohmann::json j = {{"group_id", group},
                            {"verdict", verdict},
                            {"reasons", c.get_strings("verdict_reasons")},
                            {"n_detections", c.get_int("n_detections")},
                            {"catalogue_fits", c.get_string("catalogue_fits")},
                            {"catalogue_csv", c.get_string("catalogue_csv")},
                            {"report_html", c.get_string("report_html")},
                            {"metrics", nlohmann::json::parse(c.get_string("validation_metrics"))},
                            {"seconds", seconds}};
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << fmt::format("validate {}: verdict {} ({} detections, {:.1f} s)\n", group, verdict,
                                 c.get_int("n_detections"), seconds);
        for (const auto& r : c.get_strings("verdict_reasons")) std::cout << "  " << r << "\n";
        std::cout << fmt::format("catalogue {}\n          {}\nreport    {}\n", c.get_string("catalogue_fits"),
                                 c.get_string("catalogue_csv"), c.get_string("report_html"));
      }
      return verdict == "fail" ? static_cast<int>(ExitCode::kFailure) : 0;
    };
  });
}

}  // namespace contimg::cli
