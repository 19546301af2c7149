#pragma once
// The per-row values the MsWriter derives from a block's spectra: WEIGHT,
// SIGMA and FLAG_ROW. Free functions so that they are tested without a table.
//
// Buffers are row-major [row][channel][correlation], the layout of the
// caller's DATA/FLAG/WEIGHT_SPECTRUM and of casacore's cells ([corr, chan]
// in casacore's Fortran order), so results come out [row][correlation].
#include <cstddef>
#include <cstdint>
#include <span>

namespace contimg::ms {

// SIGMA written for a WEIGHT of zero (or less, or NaN): CASA's "bogus sample"
// marker, as mstransform/AveragingTvi2 write it (weightToSigma returns −1
// for weight ≤ FLT_MIN). CASA's sigmaToWeight maps any SIGMA ≤ FLT_MIN back
// to weight 0, so `initweights(wtmode="sigma")` round-trips it to zero
// weight. See docs/ms-layout.md.
inline constexpr float kSigmaForZeroWeight = -1.0f;

// SIGMA = WEIGHT^-1/2, or kSigmaForZeroWeight when WEIGHT is not > 0.
float sigma_from_weight(float weight);

// Median of `values` (numpy's definition: the mean of the two middle values
// for an even count). `scratch` must hold values.size() floats; it is
// overwritten. NaN inputs sort last. Empty input gives 0.
float median(std::span<const float> values, std::span<float> scratch);

// For `nrows` rows of nchan × ncorr weights: WEIGHT[r][p] = median over the
// channels of WEIGHT_SPECTRUM[r][·][p] (all channels, flagged or not, as
// pyuvdata writes it) and SIGMA[r][p] = sigma_from_weight(WEIGHT[r][p]).
// weight_out and sigma_out hold nrows × ncorr values.
void compute_weight_sigma(std::span<const float> weight_spectrum, std::size_t nrows,
                          std::size_t nchan, std::size_t ncorr, std::span<float> weight_out,
                          std::span<float> sigma_out);

// FLAG_ROW[r] = every one of the row's nchan × ncorr flags is set (non-zero).
// Also converts the flags to casacore's bool, into flags_out (same size).
void compute_flag_row(std::span<const std::uint8_t> flags, std::size_t nrows,
                      std::size_t cell_size, std::span<bool> flags_out,
                      std::span<bool> flag_row_out);

// FLAG_ROW alone, as compute_flag_row gives it (for callers that derive it
// apart from the writer's flag conversion).
void compute_flag_row(std::span<const std::uint8_t> flags, std::size_t nrows,
                      std::size_t cell_size, std::span<bool> flag_row_out);

// The flags as casacore's bool (non-zero = flagged), into flags_out (same size).
void flags_to_bool(std::span<const std::uint8_t> flags, std::span<bool> flags_out);

}  // namespace contimg::ms
