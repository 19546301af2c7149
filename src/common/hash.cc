#include "common/hash.h"

#include <fmt/format.h>

namespace contimg {

std::string Fnv1a64::hex() const {
  return fmt::format("{:016x}", h_);
}

}  // namespace contimg
