#pragma once
// FNV-1a 64: a fast, stable, non-cryptographic identity for texts the state
// database compares (a flagging strategy, a product's inputs and settings).
#include <cstdint>
#include <string>
#include <string_view>

namespace contimg {

class Fnv1a64 {
 public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      h_ ^= c;
      h_ *= 0x100000001b3ull;
    }
  }
  std::uint64_t value() const { return h_; }
  std::string hex() const;  // 16 lower-case hex digits

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

inline std::string fnv1a64_hex(std::string_view bytes) {
  Fnv1a64 h;
  h.add(bytes);
  return h.hex();
}

}  // namespace contimg
