#include "io/uvh5/hdf5_handle.h"

#include <H5PLpublic.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace contimg::uvh5 {

void H5Id::reset() noexcept {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Idec_ref(id_);
  }
  id_ = H5I_INVALID_HID;
}

void initialize_hdf5(const std::string& plugin_dir) {
  static std::once_flag once;
  std::call_once(once, [&] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    if (plugin_dir.empty()) return;
    if (!std::filesystem::is_directory(plugin_dir)) {
      spdlog::warn("HDF5 plugin directory {} does not exist: LZF/bitshuffle files will not read "
                   "(install Debian packages bitshuffle and hdf5-filter-plugin)", plugin_dir);
      return;
    }
    H5PLprepend(plugin_dir.c_str());
  });
}

void silence_hdf5_errors_in_this_thread() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

std::string take_hdf5_error_stack() {
  std::vector<std::string> lines;
  auto walker = [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
    auto* out = static_cast<std::vector<std::string>*>(data);
    if (e->desc && *e->desc) out->emplace_back(e->desc);
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walker, &lines);
  H5Eclear2(H5E_DEFAULT);
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < 3; ++i) {
    if (!out.empty()) out += "; ";
    out += lines[i];
  }
  return out;
}

std::string hdf5_version() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return fmt::format("{}.{}.{}", maj, min, rel);
}

bool filter_available(H5Z_filter_t id) {
  const htri_t avail = H5Zfilter_avail(id);
  H5Eclear2(H5E_DEFAULT);
  return avail > 0;
}

}  // namespace contimg::uvh5
