#include "flagging/flag_algorithms.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "common/build_info.h"
#include "common/error.h"

namespace contimg::flagging {
namespace {

std::filesystem::path strategy() {
  return std::filesystem::path(build::kDataDir) / "strategies" / "dsa110-lband.lua";
}

TEST(FlagClip, FlagsZeroNanInfOnly) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<Visibility> v{{1, 0}, {0, 0}, {nan, 1}, {1, inf}, {0, 1e-30f}, {-inf, 0}, {2, 3}};
  std::vector<std::uint8_t> f{0, 0, 0, 0, 0, 1, 0};
  EXPECT_EQ(clip_invalid(v, f), 3u);  // the -inf one was already flagged
  EXPECT_EQ(f, (std::vector<std::uint8_t>{0, 1, 1, 1, 0, 1, 0}));
  EXPECT_EQ(clip_invalid(v, f), 0u);  // idempotent
  std::vector<std::uint8_t> short_flags(3);
  EXPECT_THROW(clip_invalid(v, short_flags), std::invalid_argument);
}

// A smooth source with a bandpass, noise, and strong narrow bursts: the
// shipped strategy finds the bursts and leaves the rest.
TEST(RfiDetector, FindsBurstsAndSparesCleanData) {
  const PlaneShape shape{2, 16 * 12, 24};
  std::vector<Visibility> vis(shape.size());
  std::vector<std::uint8_t> truth(shape.size(), 0), flags(shape.size(), 0);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::uniform_real_distribution<float> phase(0.0f, 6.2831853f);
  for (std::size_t p = 0; p < 2; ++p) {
    for (std::size_t c = 0; c < shape.nchan; ++c) {
      const float bp = 10.0f * (1.0f + 0.05f * std::sin(0.3f * static_cast<float>(c)));
      for (std::size_t t = 0; t < shape.ntimes; ++t) {
        vis[shape.index(p, c, t)] = std::polar(bp, phase(rng)) + Visibility(noise(rng), noise(rng));
      }
    }
  }
  // Bursts: (time, channel, ntimes, nchan)
  const int bursts[][4] = {{3, 20, 1, 2}, {10, 100, 2, 1}, {17, 150, 1, 3}, {22, 61, 1, 1}, {0, 5, 2, 2}};
  for (const auto& b : bursts) {
    for (int t = b[0]; t < b[0] + b[2]; ++t) {
      for (int c = b[1]; c < b[1] + b[3]; ++c) {
        for (std::size_t p = 0; p < 2; ++p) {
          const auto i = shape.index(p, static_cast<std::size_t>(c), static_cast<std::size_t>(t));
          vis[i] += std::polar(500.0f, phase(rng));
          truth[i] = 1;
        }
      }
    }
  }
  // A missing subband: zeros, flagged beforehand as the MS adapter does.
  for (std::size_t p = 0; p < 2; ++p) {
    for (std::size_t c = 48; c < 60; ++c) {
      for (std::size_t t = 0; t < shape.ntimes; ++t) vis[shape.index(p, c, t)] = 0;
    }
  }
  clip_invalid(vis, flags);
  const auto pre = flags;
  RfiDetector det(strategy());
  det.detect(vis, flags, shape);
  std::size_t rfi = 0, rfi_found = 0, clean = 0, clean_flagged = 0;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    EXPECT_TRUE(!pre[i] || flags[i]) << "an existing flag was removed at " << i;
    if (pre[i]) continue;
    if (truth[i]) {
      ++rfi;
      rfi_found += flags[i];
    } else {
      ++clean;
      clean_flagged += flags[i];
    }
  }
  ASSERT_GT(rfi, 0u);
  EXPECT_GE(double(rfi_found) / double(rfi), 0.9);
  EXPECT_LE(double(clean_flagged) / double(clean), 0.05);
}

TEST(RfiDetector, MissingStrategyIsAnInputError) {
  try {
    RfiDetector det("/nonexistent/strategy.lua");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("/nonexistent/strategy.lua"));
  }
}

TEST(DeadAntennas, ByFlaggedFractionAutocorrelationAndZeroAmplitude) {
  std::vector<AntennaActivity> a(6);
  for (auto& x : a) {
    x.present = true;
    x.cross_samples = 1000;
    x.cross_flagged = 50;
    x.cross_amp_sum = 950 * 10.0;
    x.auto_mean = 5000;
  }
  a[1].cross_flagged = 850;   // mostly flagged
  a[1].cross_amp_sum = 150 * 10.0;
  a[2].auto_mean = 3.0;       // no signal in the autocorrelation
  a[4].cross_amp_sum = 950 * 1e-6;  // cross amplitudes ~0
  a[5].present = false;       // no rows: never reported
  a[5].cross_samples = 0;
  const auto dead = find_dead_antennas(a, {});
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead[0].antenna, 1);
  EXPECT_THAT(dead[0].reason, ::testing::HasSubstr("85.0%"));
  EXPECT_EQ(dead[1].antenna, 2);
  EXPECT_THAT(dead[1].reason, ::testing::HasSubstr("autocorrelation"));
  EXPECT_EQ(dead[2].antenna, 4);
  // A stricter fraction keeps antenna 1.
  DeadAntennaCriteria loose;
  loose.dead_fraction = 0.9;
  EXPECT_EQ(find_dead_antennas(a, loose).size(), 2u);
}

}  // namespace
}  // namespace contimg::flagging
