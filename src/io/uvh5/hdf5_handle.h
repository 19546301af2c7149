#pragma once
// Small RAII owners for HDF5 C-API identifiers, and the error translation that
// turns HDF5's error stack into contimg exceptions naming file and dataset.
#include <hdf5.h>

#include <string>
#include <utility>

namespace contimg::uvh5 {

// One identifier of any HDF5 kind; closes with H5Idec_ref semantics per kind.
class H5Id {
 public:
  H5Id() = default;
  explicit H5Id(hid_t id) : id_(id) {}
  ~H5Id() { reset(); }
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  void reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Process-wide HDF5 set-up, done once: silence HDF5's own stderr printing (we
// report errors ourselves) and prepend the filter-plugin directory so LZF and
// bitshuffle datasets read without HDF5_PLUGIN_PATH. Safe to call repeatedly.
void initialize_hdf5(const std::string& plugin_dir);

// HDF5 keeps the "print errors" switch per thread in a thread-safe build:
// every thread that calls HDF5 turns it off (cheap; idempotent).
void silence_hdf5_errors_in_this_thread();

// The innermost messages of the current HDF5 error stack, then clears it.
std::string take_hdf5_error_stack();

// HDF5 library version "1.10.8".
std::string hdf5_version();

// Whether a filter (e.g. 32000 LZF, 32008 bitshuffle, 1 gzip) can be used now.
bool filter_available(H5Z_filter_t id);

}  // namespace contimg::uvh5
