#include "io/ms/ms_weights.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

namespace contimg::ms {
namespace {

// NaN sorts after every number, so the ordering is strict and weak.
bool less_nan_last(float a, float b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a < b;
}

}  // namespace

float sigma_from_weight(float weight) {
  return weight > 0 ? 1.0f / std::sqrt(weight) : kSigmaForZeroWeight;
}

float median(std::span<const float> values, std::span<float> scratch) {
  const std::size_t n = values.size();
  if (n == 0) return 0.0f;
  assert(scratch.size() >= n);
  std::copy(values.begin(), values.end(), scratch.begin());
  const auto first = scratch.begin();
  const auto mid = first + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(first, mid, first + static_cast<std::ptrdiff_t>(n), less_nan_last);
  const float upper = *mid;
  if (n % 2 == 1) return upper;
  // The lower middle value is the largest of the elements before mid.
  const float lower = *std::max_element(first, mid, less_nan_last);
  return static_cast<float>((static_cast<double>(lower) + upper) / 2.0);
}

void compute_weight_sigma(std::span<const float> weight_spectrum, std::size_t nrows,
                          std::size_t nchan, std::size_t ncorr, std::span<float> weight_out,
                          std::span<float> sigma_out) {
  assert(weight_spectrum.size() == nrows * nchan * ncorr);
  assert(weight_out.size() >= nrows * ncorr && sigma_out.size() >= nrows * ncorr);
  const std::size_t cell = nchan * ncorr;
  std::vector<float> column(nchan), scratch(nchan);
  for (std::size_t r = 0; r < nrows; ++r) {
    const float* row = weight_spectrum.data() + r * cell;
    float* w = weight_out.data() + r * ncorr;
    float* s = sigma_out.data() + r * ncorr;
    if (nchan == 0) {
      for (std::size_t p = 0; p < ncorr; ++p) {
        w[p] = 0.0f;
        s[p] = kSigmaForZeroWeight;
      }
      continue;
    }
    // Fast path: nsamples are usually the same in every channel. One branch-
    // free (vectorisable) pass: every channel equals the one before it.
    bool uniform = true;
    for (std::size_t i = ncorr; i < cell; ++i) uniform &= row[i] == row[i - ncorr];
    for (std::size_t p = 0; p < ncorr; ++p) {
      float m = row[p];
      if (!uniform || std::isnan(m)) {
        for (std::size_t c = 0; c < nchan; ++c) column[c] = row[c * ncorr + p];
        m = median(column, scratch);
      }
      w[p] = m;
      s[p] = sigma_from_weight(m);
    }
  }
}

namespace {

// FLAG_ROW of every row, and the flags as bool when kConvert: one pass.
template <bool kConvert>
void flag_rows(const std::uint8_t* flags, std::size_t nrows, std::size_t cell_size,
               bool* flags_out, bool* flag_row_out) {
  for (std::size_t r = 0; r < nrows; ++r) {
    const std::uint8_t* in = flags + r * cell_size;
    unsigned all = cell_size > 0 ? 1u : 0u;
    for (std::size_t i = 0; i < cell_size; ++i) {
      const unsigned f = in[i] != 0;
      if constexpr (kConvert) flags_out[r * cell_size + i] = f != 0;
      all &= f;
    }
    flag_row_out[r] = all != 0;
  }
}

}  // namespace

void compute_flag_row(std::span<const std::uint8_t> flags, std::size_t nrows,
                      std::size_t cell_size, std::span<bool> flags_out,
                      std::span<bool> flag_row_out) {
  assert(flags.size() == nrows * cell_size && flags_out.size() >= flags.size());
  assert(flag_row_out.size() >= nrows);
  flag_rows<true>(flags.data(), nrows, cell_size, flags_out.data(), flag_row_out.data());
}

void compute_flag_row(std::span<const std::uint8_t> flags, std::size_t nrows,
                      std::size_t cell_size, std::span<bool> flag_row_out) {
  assert(flags.size() == nrows * cell_size && flag_row_out.size() >= nrows);
  flag_rows<false>(flags.data(), nrows, cell_size, nullptr, flag_row_out.data());
}

void flags_to_bool(std::span<const std::uint8_t> flags, std::span<bool> flags_out) {
  assert(flags_out.size() >= flags.size());
  for (std::size_t i = 0; i < flags.size(); ++i) flags_out[i] = flags[i] != 0;
}

}  // namespace contimg::ms
