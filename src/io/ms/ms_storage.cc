#include "io/ms/ms_storage.h"

#include <algorithm>
#include <cmath>

namespace contimg::ms {

std::size_t choose_tile_rows(std::size_t row_bits, std::size_t target_bytes,
                             std::size_t block_rows) {
  const std::size_t target_bits = std::max<std::size_t>(target_bytes, 1) * 8;
  row_bits = std::max<std::size_t>(row_bits, 1);
  const std::size_t unaligned =
      std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(
                                   static_cast<double>(target_bits) / static_cast<double>(row_bits))));
  if (block_rows == 0) return unaligned;

  // Largest divisor of block_rows whose tile fits the target.
  const std::size_t max_rows = std::max<std::size_t>(1, target_bits / row_bits);
  std::size_t best = 1;
  for (std::size_t d = 1; d * d <= block_rows; ++d) {
    if (block_rows % d != 0) continue;
    const std::size_t pair = block_rows / d;
    if (d <= max_rows) best = std::max(best, d);
    if (pair <= max_rows) best = std::max(best, pair);
  }
  // A divisor far below what one block or the target allows (a prime block
  // size, say) would make tiny tiles: give up alignment then.
  const std::size_t useful = std::min(max_rows, block_rows);
  if (best * 4 < useful) return std::min(unaligned, block_rows);
  return best;
}

TileShape choose_cell_tile(std::size_t ncorr, std::size_t nchan, std::size_t element_bits,
                           const StorageOptions& options) {
  TileShape t;
  t.ncorr = ncorr;
  t.nchan = nchan;
  const std::size_t target_bits = std::max<std::size_t>(options.tile_target_bytes, 1) * 8;
  const std::size_t corr_bits = ncorr * element_bits;
  if (corr_bits * nchan > target_bits) {
    // One cell exceeds the target (thousands of channels): split channels.
    t.nchan = std::max<std::size_t>(1, target_bits / std::max<std::size_t>(corr_bits, 1));
    t.rows = 1;
    return t;
  }
  t.rows = choose_tile_rows(corr_bits * nchan, options.tile_target_bytes, options.block_rows);
  return t;
}

}  // namespace contimg::ms
