// `contimg dump FILE`: the full header and a block of visibilities, flags and
// nsamples as JSON, normalised as the converter sees them (optionally with
// ascending channels). For inspection and for checks against other readers.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "common/error.h"
#include "io/uvh5/uvh5_file.h"

namespace contimg::cli {
namespace {

struct DumpOptions {
  std::string file;
  std::string rows = "0:4";
  std::string times;
  bool ascending = false;
  std::string profile = "standard";
};

std::pair<std::uint64_t, std::uint64_t> parse_range(const std::string& text, const char* what) {
  const auto colon = text.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument(text);
    const auto a = std::stoull(text.substr(0, colon));
    const auto b = std::stoull(text.substr(colon + 1));
    if (b < a) throw std::invalid_argument(text);
    return {a, b};
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("{} must be START:END with START <= END, got \"{}\"", what, text));
  }
}

}  // namespace

void register_dump_command(CLI::App& app, CommandContext& ctx) {
  auto opts = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand("dump", "Full header and a block of data of one UVH5 file as JSON");
  cmd->add_option("file", opts->file, "UVH5 file")->required();
  cmd->add_option("--rows", opts->rows, "Row range START:END (baseline-times)")->capture_default_str();
  cmd->add_option("--times", opts->times, "Unique-time index range START:END (overrides --rows)");
  cmd->add_flag("--ascending", opts->ascending, "Reorder channels to ascending frequency");
  cmd->add_option("--profile", opts->profile, "HDF5 cache profile: metadata, standard, streaming, random")->capture_default_str();
  cmd->callback([&ctx, opts] {
    ctx.action = [&ctx, opts] {
      const auto profiles = uvh5::CacheProfiles::from_config(ctx.config());
      const uvh5::Uvh5File file(opts->file, uvh5::parse_cache_profile(opts->profile), profiles);
      const auto h = file.read_header();
      const auto order = opts->ascending ? uvh5::ChannelOrder::kAscending : uvh5::ChannelOrder::kAsStored;
      const std::uint64_t per_row = static_cast<std::uint64_t>(h.nfreqs * h.npols);
      std::vector<std::uint64_t> rows;
      std::vector<std::complex<float>> vis;
      std::vector<std::uint8_t> flags;
      std::vector<float> nsamples;
      auto alloc = [&](std::uint64_t n) {
        vis.resize(n * per_row);
        flags.resize(n * per_row);
        nsamples.resize(n * per_row);
      };
      if (!opts->times.empty()) {
        const auto [t0, t1] = parse_range(opts->times, "--times");
        const auto index = uvh5::build_time_index(h);
        if (t1 > index.times_jd.size()) {
          throw ConfigError(fmt::format("--times {} beyond the file's {} unique times", opts->times,
                                        index.times_jd.size()));
        }
        std::uint64_t n = 0;
        for (auto t : index.row_time) n += (t >= t0 && t < t1);
        alloc(n);
        rows = file.read_times(h, t0, t1, {vis, flags, nsamples}, order);
      } else {
        const auto [r0, r1] = parse_range(opts->rows, "--rows");
        if (r1 > static_cast<std::uint64_t>(h.nblts)) {
          throw ConfigError(fmt::format("--rows {} beyond Nblts={}", opts->rows, h.nblts));
        }
        alloc(r1 - r0);
        file.read_rows(h, r0, r1 - r0, {vis, flags, nsamples}, order);
        for (auto r = r0; r < r1; ++r) rows.push_back(r);
      }
      nlohmann::json data_vis = nlohmann::json::array(), data_flags = nlohmann::json::array(),
                     data_ns = nlohmann::json::array();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        nlohmann::json rv = nlohmann::json::array(), rf = nlohmann::json::array(),
                       rn = nlohmann::json::array();
        for (std::int64_t c = 0; c < h.nfreqs; ++c) {
          nlohmann::json cv = nlohmann::json::array(), cf = nlohmann::json::array(),
                         cn = nlohmann::json::array();
          for (std::int64_t p = 0; p < h.npols; ++p) {
            const std::size_t k = i * per_row + static_cast<std::size_t>(c * h.npols + p);
            cv.push_back({vis[k].real(), vis[k].imag()});
            cf.push_back(flags[k] != 0);
            cn.push_back(nsamples[k]);
          }
          rv.push_back(cv);
          rf.push_back(cf);
          rn.push_back(cn);
        }
        data_vis.push_back(rv);
        data_flags.push_back(rf);
        data_ns.push_back(rn);
      }
      nlohmann::json j;
      j["header"] = uvh5::to_json(h, true);
      j["cache_profile"] = uvh5::to_string(file.profile());
      j["channel_order"] = opts->ascending ? "ascending" : "as-stored";
      j["rows"] = rows;
      j["visdata"] = data_vis;
      j["flags"] = data_flags;
      j["nsamples"] = data_ns;
      std::cout << j.dump() << "\n";
      return 0;
    };
  });
}

}  // namespace contimg::cli
