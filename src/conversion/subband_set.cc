#include "conversion/subband_set.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

namespace contimg::conversion {
namespace {

[[noreturn]] void inconsistent(const std::filesystem::path& p, const std::string& what) {
  throw InputError(fmt::format("{}: inconsistent with the other subbands of its group: {}",
                               p.string(), what));
}

}  // namespace

SubbandSet::SubbandSet(const std::vector<SubbandFile>& files, int expected_subbands,
                       const uvh5::CacheProfiles& profiles, uvh5::CacheProfile profile)
    : expected_(expected_subbands) {
  files_.resize(static_cast<std::size_t>(expected_));
  headers_.resize(static_cast<std::size_t>(expected_));
  if (files.empty()) throw InputError("a group needs at least one subband file");
  for (const auto& f : files) {
    if (f.subband < 0 || f.subband >= expected_) {
      throw InputError(fmt::format("{}: subband code {} outside 0..{}", f.path.string(), f.subband,
                                   expected_ - 1));
    }
    auto& slot = files_[static_cast<std::size_t>(f.subband)];
    if (slot) {
      throw InputError(fmt::format("duplicate subband {:02d}: {} and {}", f.subband,
                                   slot->path().string(), f.path.string()));
    }
    slot = std::make_unique<uvh5::Uvh5File>(f.path, profile, profiles);
    headers_[static_cast<std::size_t>(f.subband)] = slot->peek();
  }
  // The reference is a file that agrees with the majority, so that one bad
  // file (even sb00) is the one blamed, not its neighbour.
  {
    std::map<std::string, int> votes;
    std::vector<std::string> signature(static_cast<std::size_t>(expected_));
    for (int k = 0; k < expected_; ++k) {
      if (!present(k)) continue;
      const auto& h = headers_[static_cast<std::size_t>(k)];
      const double w = std::abs(h.channel_width_hz.at(0));
      const double top = h.freq_descending() || h.nfreqs == 1 ? h.freq_max_hz() + k * h.nfreqs * w
                                                              : h.freq_min_hz() - k * h.nfreqs * w;
      signature[static_cast<std::size_t>(k)] =
          fmt::format("{} {} {} {} {} {} {} {:.3f} {:.0f} {:.9f} {:.9f}", h.nblts, h.ntimes, h.nbls,
                      h.nfreqs, h.npols, h.nants_telescope, fmt::join(h.polarization, ","), w, top,
                      h.time_min_jd, h.time_max_jd);
      ++votes[signature[static_cast<std::size_t>(k)]];
    }
    const auto best = std::max_element(votes.begin(), votes.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    for (int k = 0; k < expected_; ++k) {
      if (present(k) && signature[static_cast<std::size_t>(k)] == best->first) {
        reference_subband_ = k;
        break;
      }
    }
  }
  reference_ = files_[static_cast<std::size_t>(reference_subband_)]->complete_header(
      headers_[static_cast<std::size_t>(reference_subband_)]);
  const auto& ref = *reference_;
  descending_ = ref.freq_descending() || ref.nfreqs == 1;
  width_ = std::abs(ref.channel_width_hz.at(0));
  if (!(width_ > 0)) inconsistent(ref.path, "channel width is zero");
  // Top of the band: sb00 channel 0 in the descending DSA-110 layout.
  top_hz_ = descending_ ? ref.freq_max_hz() + reference_subband_ * ref.nfreqs * width_
                        : ref.freq_min_hz() - reference_subband_ * ref.nfreqs * width_;

  for (int k = 0; k < expected_; ++k) {
    if (!present(k) || k == reference_subband_) continue;
    const auto& h = headers_[static_cast<std::size_t>(k)];
    const auto& p = h.path;
    auto same = [&](auto a, auto b, const char* what) {
      if (a != b) inconsistent(p, fmt::format("{} is {}, {} has {}", what, a, ref.path.filename().string(), b));
    };
    same(h.nblts, ref.nblts, "Nblts");
    same(h.ntimes, ref.ntimes, "Ntimes");
    same(h.nbls, ref.nbls, "Nbls");
    same(h.nfreqs, ref.nfreqs, "Nfreqs");
    same(h.npols, ref.npols, "Npols");
    same(h.nants_telescope, ref.nants_telescope, "Nants_telescope");
    if (h.polarization != ref.polarization) inconsistent(p, "polarization_array differs");
    if (std::abs(std::abs(h.channel_width_hz.at(0)) - width_) > 1e-6) {
      inconsistent(p, fmt::format("channel width {} Hz, expected {} Hz", h.channel_width_hz.at(0), width_));
    }
    if (std::abs(h.time_min_jd - ref.time_min_jd) * 86400 > 1e-3 ||
        std::abs(h.time_max_jd - ref.time_max_jd) * 86400 > 1e-3) {
      inconsistent(p, "time range differs");
    }
    const auto expected = ascending_freqs(k);
    std::vector<double> got = h.freq_hz;
    std::sort(got.begin(), got.end());
    for (std::size_t j = 0; j < got.size(); ++j) {
      if (std::abs(got[j] - expected[j]) > 1.0) {
        inconsistent(p, fmt::format("frequency axis: channel {} at {:.3f} Hz, the band grid puts "
                                    "subband {:02d} channel {} at {:.3f} Hz",
                                    j, got[j], k, j, expected[j]));
      }
    }
  }
  // Per-row arrays must agree too: compare every file's baselines and times
  // with the reference (only those arrays are read).
  for (int k = 0; k < expected_; ++k) {
    if (!present(k) || k == reference_subband_) continue;
    const auto& h = headers_[static_cast<std::size_t>(k)];
    const auto axes = files_[static_cast<std::size_t>(k)]->read_row_axes(h);
    if (axes.ant_1 != ref.ant_1 || axes.ant_2 != ref.ant_2) inconsistent(h.path, "baseline order differs");
    if (axes.time_jd != ref.time_jd) inconsistent(h.path, "time_array differs");
  }

  // Time slots: rows of each unique time, as runs.
  const auto index = uvh5::build_time_index(ref);
  times_.resize(index.times_jd.size());
  for (std::size_t t = 0; t < times_.size(); ++t) times_[t].jd_utc = index.times_jd[t];
  for (std::uint64_t r = 0; r < index.row_time.size(); ++r) {
    auto& slot = times_[index.row_time[r]];
    if (!slot.runs.empty() && slot.runs.back().first + slot.runs.back().second == r) {
      ++slot.runs.back().second;
    } else {
      slot.runs.emplace_back(r, 1);
    }
    ++slot.nrows;
  }
  for (const auto& slot : times_) {
    if (slot.nrows != times_.front().nrows) {
      inconsistent(ref.path, "integrations hold different numbers of baselines");
    }
  }
  // Baselines of the first slot; every slot must list the same ones in the same order.
  for (const auto& [start, count] : times_.front().runs) {
    for (std::uint64_t r = start; r < start + count; ++r) {
      ant1_.push_back(static_cast<std::int32_t>(ref.ant_1[r]));
      ant2_.push_back(static_cast<std::int32_t>(ref.ant_2[r]));
    }
  }
  for (const auto& slot : times_) {
    std::size_t i = 0;
    for (const auto& [start, count] : slot.runs) {
      for (std::uint64_t r = start; r < start + count; ++r, ++i) {
        if (ref.ant_1[r] != ant1_[i] || ref.ant_2[r] != ant2_[i]) {
          inconsistent(ref.path, "baseline order changes between integrations");
        }
      }
    }
  }
  for (std::size_t i = 0; i < ant1_.size(); ++i) {
    if (ant1_[i] < 0 || ant2_[i] < 0 || ant1_[i] >= ref.nants_telescope || ant2_[i] >= ref.nants_telescope) {
      throw InputError(fmt::format("{}: Header/ant_1_array/ant_2_array: antenna index outside 0..{}",
                                   ref.path.string(), ref.nants_telescope - 1));
    }
  }
}

std::vector<int> SubbandSet::missing() const {
  std::vector<int> out;
  for (int k = 0; k < expected_; ++k) {
    if (!present(k)) out.push_back(k);
  }
  return out;
}

std::uint64_t SubbandSet::input_bytes() const {
  std::uint64_t n = 0;
  for (const auto& h : headers_) n += h.file_bytes;
  return n;
}

std::vector<double> SubbandSet::ascending_freqs(int subband) const {
  const auto nf = reference_->nfreqs;
  std::vector<double> f(static_cast<std::size_t>(nf));
  for (std::int64_t j = 0; j < nf; ++j) {
    // Channel j of the file, then sorted ascending.
    f[static_cast<std::size_t>(j)] = descending_ ? top_hz_ - (subband * nf + j) * width_
                                                 : top_hz_ + (subband * nf + j) * width_;
  }
  std::sort(f.begin(), f.end());
  return f;
}

}  // namespace contimg::conversion
