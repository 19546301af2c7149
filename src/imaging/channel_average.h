#pragma once
// Frequency averaging of re-phased visibilities for the imaging MS (docs/imaging.md §1):
// WSClean's time goes into gridding, which scales with the number of
// visibilities, and DSA-110's 244 kHz channels are far narrower than the
// band needs for a 3.5° field. On plain buffers, so it is testable without an MS.
#include <complex>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace contimg::imaging {

// Channels per output channel so that it is at most `max_width_hz` wide
// (at least 1; 1 also when max_width_hz <= 0).
std::size_t channel_average_factor(double native_width_hz, double max_width_hz);

// Output channel k of a row averages input channels [k f, min((k+1) f, nchan)):
// frequency = their mean, width = their sum.
void average_channel_axis(std::span<const double> freq_hz, std::span<const double> width_hz,
                          std::size_t factor, std::vector<double>& freq_out, std::vector<double>& width_out);

// data/flags/weights: [row][chan][corr] with nchan = data.size() / (nrows * ncorr).
// Per row and correlation, the weighted mean of the unflagged samples with
// weight > 0; output weight = the sum of their weights; an output sample with
// none is flagged, with weight 0 and data 0. Outputs are resized.
void average_channels(std::span<const std::complex<float>> data, std::span<const std::uint8_t> flags,
                      std::span<const float> weights, std::size_t nrows, std::size_t ncorr, std::size_t factor,
                      std::vector<std::complex<float>>& data_out, std::vector<std::uint8_t>& flags_out,
                      std::vector<float>& weights_out);

}  // namespace contimg::imaging
