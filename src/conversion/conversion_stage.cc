#include "conversion/conversion_stage.h"

#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::conversion {
namespace fs = std::filesystem;

std::string ConversionStage::encode(const SubbandFile& f) {
  return fmt::format("{:02d}={}", f.subband, f.path.string());
}

SubbandFile ConversionStage::decode(const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos) throw std::invalid_argument("subband file entry without '=': " + s);
  return {std::stoi(s.substr(0, eq)), s.substr(eq + 1)};
}

bool ConversionStage::is_done(const pipeline::Context& ctx) const {
  return skip_existing_ &&
         fs::exists(fs::path(ctx.get_string("output_dir")) / (ctx.group_id() + ".ms"));
}

pipeline::Context ConversionStage::restore(const pipeline::Context& ctx) const {
  return ctx.with_output(
      "ms_path", (fs::path(ctx.get_string("output_dir")) / (ctx.group_id() + ".ms")).string());
}

void ConversionStage::validate(const pipeline::Context& ctx) const {
  if (ctx.get_strings("subband_files").empty()) {
    throw InputError("group " + ctx.group_id() + ": no subband files");
  }
  if (ctx.get_string("output_dir").empty()) throw ConfigError("convert: no output directory");
}

std::vector<pipeline::ProductRef> ConversionStage::planned_products(
    const pipeline::Context& ctx) const {
  return {{fs::path(ctx.get_string("output_dir")) / (ctx.group_id() + ".ms"), "ms"}};
}

pipeline::Context ConversionStage::execute(const pipeline::Context& ctx) {
  std::vector<SubbandFile> files;
  for (const auto& s : ctx.get_strings("subband_files")) files.push_back(decode(s));
  last_ = converter_.convert(ctx.group_id(), files, ctx.get_string("output_dir"), ctx.interrupts(), progress_,
                             ctx.resources().threads);
  const ConversionResult& r = *last_;
  return ctx
      .with_outputs({{"ms_path", r.ms_path.string()},
                     {"rows", static_cast<std::int64_t>(r.rows)},
                     {"calibrator_field", r.calibrator_field},
                     {"staged_in_tmpfs", r.staged_in_tmpfs},
                     {"seconds_write", r.seconds_write},
                     {"seconds_verify", r.seconds_verify},
                     {"seconds_sync", r.seconds_sync},
                     {"seconds_publish", r.seconds_publish}})
      .with_io(r.bytes_read, r.bytes_written);
}

}  // namespace contimg::conversion
