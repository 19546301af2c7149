// `contimg peek FILE...`: the metadata that indexing needs, without reading
// visibilities (target <= 10 ms per file). --json gives every header field.
#include <chrono>
#include <iostream>
#include <numbers>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "astro/time.h"
#include "cli/app.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "io/uvh5/uvh5_file.h"

namespace contimg::cli {
namespace {

struct PeekOptions {
  std::vector<std::string> files;
};

void print_summary(const uvh5::Uvh5Header& h, double ms) {
  const auto dec = h.pointing_dec_rad();
  std::cout << fmt::format(
      "{}\n"
      "  layout     {}{}  telescope {}  {:.1f} MB  (peek {:.2f} ms)\n"
      "  shape      Nblts={} Ntimes={} Nbls={} Nfreqs={} Npols={} Nspws={} Nants={}/{}\n"
      "  frequency  {:.6f} - {:.6f} MHz ({}, {} channels, width {:.3f} kHz)\n"
      "  time       {} - {} UTC (integration {:.6f} s)\n"
      "  pointing   Dec {}\n"
      "  pols       {}\n"
      "  visdata    {} shape ({}) chunks ({}) filters [{}]\n",
      h.path.string(), uvh5::to_string(h.layout), h.version.empty() ? "" : " v" + h.version,
      h.telescope_name, h.file_bytes / 1e6, ms, h.nblts, h.ntimes, h.nbls, h.nfreqs, h.npols,
      h.nspws, h.nants_data, h.nants_telescope, h.freq_min_hz() / 1e6, h.freq_max_hz() / 1e6,
      h.freq_descending() ? "descending" : "ascending", h.nfreqs,
      std::abs(h.channel_width_hz.at(0)) / 1e3, astro::jd_utc_to_iso(h.time_min_jd),
      astro::jd_utc_to_iso(h.time_max_jd), h.integration_time_s,
      dec ? fmt::format("{:+.6f} deg", *dec * 180 / std::numbers::pi) : std::string("unknown"),
      fmt::join(h.polarization, ","), uvh5::to_string(h.vis_type), fmt::join(h.visdata.shape, ", "),
      h.visdata.chunks.empty() ? std::string("contiguous") : fmt::format("{}", fmt::join(h.visdata.chunks, ", ")),
      fmt::join(h.visdata.filters, ","));
}

}  // namespace

void register_peek_command(CLI::App& app, CommandContext& ctx) {
  auto opts = std::make_shared<PeekOptions>();
  auto* cmd = app.add_subcommand(
      "peek", "Header summary of UVH5 files without reading visibilities (--json: every field)");
  cmd->add_option("files", opts->files, "UVH5 files")->required();
  cmd->callback([&ctx, opts] {
    ctx.action = [&ctx, opts] {
      const auto profiles = uvh5::CacheProfiles::from_config(ctx.config());
      nlohmann::json out = nlohmann::json::array();
      int failures = 0;
      // Only worth a display for directory-sized lists.
      auto progress = opts->files.size() >= 100
                          ? ctx.progress("peek", opts->files.size(), "files")
                          : nullptr;
      for (const auto& f : opts->files) {
        ctx.interrupts().throw_if_interrupted();
        if (progress) progress->advance();
        try {
          const auto t0 = std::chrono::steady_clock::now();
          const uvh5::Uvh5File file(f, uvh5::CacheProfile::kMetadata, profiles);
          const auto h = file.peek();
          const double ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
          if (ctx.json()) {
            auto j = uvh5::to_json(h, false);
            j["peek_ms"] = ms;
            j["cache_profile"] = uvh5::to_string(file.profile());
            j["cache_bytes"] = file.applied_cache().bytes;
            out.push_back(j);
          } else {
            print_summary(h, ms);
          }
        } catch (const InputError& e) {
          ++failures;
          spdlog::error("{}", e.what());
          if (ctx.json()) out.push_back({{"path", f}, {"error", e.what()}});
        }
      }
      if (ctx.json()) std::cout << out.dump(2) << "\n";
      return failures ? static_cast<int>(ExitCode::kInputError) : 0;
    };
  });
}

}  // namespace contimg::cli
