#include "imaging/channel_average.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::imaging {

std::size_t channel_average_factor(double native_width_hz, double max_width_hz) {
  if (!(max_width_hz > 0) || !(native_width_hz > 0)) return 1;
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(max_width_hz / native_width_hz * (1 + 1e-12))));
}

void average_channel_axis(std::span<const double> freq_hz, std::span<const double> width_hz, std::size_t factor,
                          std::vector<double>& freq_out, std::vector<double>& width_out) {
  if (factor == 0 || freq_hz.size() != width_hz.size()) {
    throw InputError(fmt::format("channel averaging: factor {} with {} frequencies and {} widths", factor,
                                 freq_hz.size(), width_hz.size()));
  }
  freq_out.clear();
  width_out.clear();
  for (std::size_t c0 = 0; c0 < freq_hz.size(); c0 += factor) {
    const std::size_t c1 = std::min(freq_hz.size(), c0 + factor);
    double f = 0, w = 0;
    for (std::size_t c = c0; c < c1; ++c) f += freq_hz[c], w += width_hz[c];
    freq_out.push_back(f / static_cast<double>(c1 - c0));
    width_out.push_back(w);
  }
}

void average_channels(std::span<const std::complex<float>> data, std::span<const std::uint8_t> flags,
                      std::span<const float> weights, std::size_t nrows, std::size_t ncorr, std::size_t factor,
                      std::vector<std::complex<float>>& data_out, std::vector<std::uint8_t>& flags_out,
                      std::vector<float>& weights_out) {
  if (factor == 0 || nrows == 0 || ncorr == 0 || data.size() % (nrows * ncorr) != 0 ||
      flags.size() != data.size() || weights.size() != data.size()) {
    throw InputError(fmt::format("channel averaging: {} samples, {} flags, {} weights for {} rows x {} correlations",
                                 data.size(), flags.size(), weights.size(), nrows, ncorr));
  }
  const std::size_t nchan = data.size() / (nrows * ncorr);
  const std::size_t nout = (nchan + factor - 1) / factor;
  data_out.assign(nrows * nout * ncorr, {0.f, 0.f});
  flags_out.assign(data_out.size(), 1);
  weights_out.assign(data_out.size(), 0.f);
  for (std::size_t r = 0; r < nrows; ++r) {
    for (std::size_t k = 0; k < nout; ++k) {
      const std::size_t c1 = std::min(nchan, (k + 1) * factor);
      for (std::size_t p = 0; p < ncorr; ++p) {
        std::complex<double> sum = 0;
        double wsum = 0;
        for (std::size_t c = k * factor; c < c1; ++c) {
          const std::size_t i = (r * nchan + c) * ncorr + p;
          const double w = weights[i];
          if (flags[i] || !(w > 0)) continue;
          sum += w * std::complex<double>(data[i]);
          wsum += w;
        }
        const std::size_t o = (r * nout + k) * ncorr + p;
        if (wsum > 0) {
          data_out[o] = std::complex<float>(sum / wsum);
          weights_out[o] = static_cast<float>(wsum);
          flags_out[o] = 0;
        }
      }
    }
  }
}

}  // namespace contimg::imaging
