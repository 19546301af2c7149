// Frequency averaging of the imaging MS (docs/imaging.md §1).
#include <gtest/gtest.h>

#include <complex>
#include <vector>

#include "common/error.h"
#include "imaging/channel_average.h"

namespace contimg::imaging {
namespace {

TEST(ChannelAverage, FactorKeepsChannelsWithinTheWidth) {
  EXPECT_EQ(channel_average_factor(244140.625, 1e6), 4u);     // DSA-110: 4 x 244 kHz = 977 kHz
  EXPECT_EQ(channel_average_factor(976562.5, 1e6), 1u);       // already ~1 MHz
  EXPECT_EQ(channel_average_factor(244140.625, 976562.5), 4u);  // exactly 4, not 3 by rounding
  EXPECT_EQ(channel_average_factor(244140.625, 0), 1u);       // 0 = native
  EXPECT_EQ(channel_average_factor(2.9e6, 1e6), 1u);
}

TEST(ChannelAverage, AxisTakesMeanFrequencyAndSummedWidthWithAShortLastGroup) {
  std::vector<double> f, w;
  average_channel_axis(std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{1, 1, 1, 1, 1}, 2, f, w);
  EXPECT_EQ(f, (std::vector<double>{1.5, 3.5, 5}));
  EXPECT_EQ(w, (std::vector<double>{2, 2, 1}));
}

TEST(ChannelAverage, WeightedMeanOfUnflaggedSamplesPerCorrelation) {
  // 1 row, 4 channels, 2 correlations; factor 2 -> 2 output channels.
  using C = std::complex<float>;
  const std::vector<C> d = {{1, 0}, {10, 10}, {3, 0}, {20, 20},   // channels 0, 1
                            {5, 5}, {7, 0},   {9, 9}, {8, 0}};    // channels 2, 3
  const std::vector<std::uint8_t> fl = {0, 0, 0, 1,   // ch1 corr1 flagged
                                        1, 0, 1, 0};  // ch2 and ch3 corr0 flagged
  const std::vector<float> w = {1, 2, 3, 4, 1, 1, 1, 3};
  std::vector<C> out;
  std::vector<std::uint8_t> fo;
  std::vector<float> wo;
  average_channels(d, fl, w, 1, 2, 2, out, fo, wo);
  ASSERT_EQ(out.size(), 4u);
  // out ch0 corr0: (1*1 + 3*3) / 4 = 2.5; corr1: only ch0 (weight 2) -> (10, 10).
  EXPECT_FLOAT_EQ(out[0].real(), 2.5f);
  EXPECT_FLOAT_EQ(wo[0], 4.f);
  EXPECT_EQ(out[1], C(10, 10));
  EXPECT_FLOAT_EQ(wo[1], 2.f);
  // out ch1 corr0: both flagged -> flagged, weight 0, data 0.
  EXPECT_EQ(fo[2], 1);
  EXPECT_FLOAT_EQ(wo[2], 0.f);
  EXPECT_EQ(out[2], C(0, 0));
  // out ch1 corr1: (7*1 + 8*3) / 4 = 7.75.
  EXPECT_EQ(fo[3], 0);
  EXPECT_FLOAT_EQ(out[3].real(), 7.75f);
  EXPECT_FLOAT_EQ(wo[3], 4.f);
}

TEST(ChannelAverage, RejectsInconsistentBuffers) {
  std::vector<std::complex<float>> out;
  std::vector<std::uint8_t> fo;
  std::vector<float> wo;
  const std::vector<std::complex<float>> d(6);
  const std::vector<std::uint8_t> fl(5);
  const std::vector<float> w(6);
  EXPECT_THROW(average_channels(d, fl, w, 1, 2, 2, out, fo, wo), InputError);
}

}  // namespace
}  // namespace contimg::imaging
