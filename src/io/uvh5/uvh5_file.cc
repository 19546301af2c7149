#include "io/uvh5/uvh5_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg::uvh5 {
namespace fs = std::filesystem;
namespace {

// ---- error helpers ----------------------------------------------------------

[[noreturn]] void fail(const fs::path& file, const std::string& dataset, const std::string& problem) {
  std::string stack = take_hdf5_error_stack();
  std::string msg = fmt::format("{}: {}: {}", file.string(), dataset, problem);
  if (!stack.empty()) msg += " (HDF5: " + stack + ")";
  throw InputError(msg);
}

bool link_exists(hid_t file, const std::string& name) {
  // H5Lexists fails on a missing intermediate group: check every component.
  std::size_t pos = 0;
  while (true) {
    pos = name.find('/', pos + 1);
    const std::string part = name.substr(0, pos);
    const htri_t e = H5Lexists(file, part.c_str(), H5P_DEFAULT);
    if (e <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (pos == std::string::npos) return true;
  }
}

// ---- typed dataset reads ----------------------------------------------------

class Reader {
 public:
  Reader(hid_t file, const fs::path& path) : file_(file), path_(path) {}

  bool has(const std::string& name) const { return link_exists(file_, name); }

  H5Id open(const std::string& name) const {
    if (!has(name)) fail(path_, name, "missing dataset");
    H5Id ds(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    if (!ds) fail(path_, name, "cannot open dataset");
    return ds;
  }

  std::vector<std::uint64_t> shape(hid_t ds, const std::string& name) const {
    H5Id space(H5Dget_space(ds));
    if (!space) fail(path_, name, "cannot read dataspace");
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return {0};
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return {dims.begin(), dims.end()};
  }

  static std::uint64_t count(const std::vector<std::uint64_t>& shape) {
    return std::accumulate(shape.begin(), shape.end(), std::uint64_t{1}, std::multiplies<>());
  }

  template <typename T>
  std::vector<T> numbers(const std::string& name, hid_t mem_type,
                         std::vector<std::uint64_t>* shape_out = nullptr) const {
    H5Id ds = open(name);
    H5Id type(H5Dget_type(ds.get()));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT && cls != H5T_ENUM) {
      fail(path_, name, "wrong type: expected a number");
    }
    const auto shp = shape(ds.get(), name);
    if (shape_out) *shape_out = shp;
    std::vector<T> out(count(shp));
    if (out.empty()) return out;
    if (cls == H5T_ENUM) {
      // h5py booleans: an int8 enum; read the raw values.
      std::vector<std::int8_t> raw(out.size());
      H5Id native(H5Tget_native_type(type.get(), H5T_DIR_ASCEND));
      if (H5Tget_size(type.get()) != 1 ||
          H5Dread(ds.get(), native.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
        fail(path_, name, "cannot read enumerated values");
      }
      std::copy(raw.begin(), raw.end(), out.begin());
      return out;
    }
    if (H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
      fail(path_, name, "read failed (truncated or corrupt file?)");
    }
    return out;
  }

  std::vector<double> doubles(const std::string& name,
                              std::vector<std::uint64_t>* shape_out = nullptr) const {
    return numbers<double>(name, H5T_NATIVE_DOUBLE, shape_out);
  }
  std::vector<std::int64_t> ints(const std::string& name,
                                 std::vector<std::uint64_t>* shape_out = nullptr) const {
    return numbers<std::int64_t>(name, H5T_NATIVE_INT64, shape_out);
  }

  double scalar_double(const std::string& name) const {
    auto v = doubles(name);
    if (v.size() != 1) fail(path_, name, fmt::format("wrong shape: expected a scalar, got {} values", v.size()));
    return v[0];
  }
  std::int64_t scalar_int(const std::string& name) const {
    auto v = ints(name);
    if (v.size() != 1) fail(path_, name, fmt::format("wrong shape: expected a scalar, got {} values", v.size()));
    return v[0];
  }

  std::vector<std::string> strings(const std::string& name) const {
    H5Id ds = open(name);
    H5Id type(H5Dget_type(ds.get()));
    if (H5Tget_class(type.get()) != H5T_STRING) fail(path_, name, "wrong type: expected a string");
    const auto n = count(shape(ds.get(), name));
    std::vector<std::string> out;
    if (n == 0) return out;
    out.reserve(n);
    if (H5Tis_variable_str(type.get()) > 0) {
      H5Id mem(H5Tcopy(H5T_C_S1));
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      std::vector<char*> ptrs(n, nullptr);
      if (H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
        fail(path_, name, "read failed");
      }
      for (char* p : ptrs) out.emplace_back(p ? p : "");
      H5Id space(H5Dget_space(ds.get()));
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
      return out;
    }
    const std::size_t size = H5Tget_size(type.get());
    std::vector<char> buf(size * n);
    if (H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
      fail(path_, name, "read failed");
    }
    const bool space_pad = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
    for (std::size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      const auto end = s.find_last_not_of(space_pad ? std::string(" \0", 2) : std::string(1, '\0'));
      s.resize(end == std::string::npos ? 0 : end + 1);
      if (const auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::string string(const std::string& name) const {
    auto v = strings(name);
    return v.empty() ? std::string() : v[0];
  }
  std::string string_or(const std::string& name, const std::string& fallback = {}) const {
    return has(name) ? string(name) : fallback;
  }

  // A dataset of any simple kind as JSON (extra_keywords, catalogue entries).
  nlohmann::json any(const std::string& name) const {
    H5Id ds = open(name);
    H5Id type(H5Dget_type(ds.get()));
    const auto shp = shape(ds.get(), name);
    const bool scalar = shp.empty();
    if (!scalar && count(shp) == 0) return nullptr;
    auto pack = [&](auto values) -> nlohmann::json {
      if (scalar) return values.at(0);
      return values;
    };
    switch (H5Tget_class(type.get())) {
      case H5T_STRING: return pack(strings(name));
      case H5T_INTEGER: return pack(ints(name));
      case H5T_FLOAT: return pack(doubles(name));
      case H5T_ENUM: {
        auto v = ints(name);
        std::vector<bool> b(v.begin(), v.end());
        return pack(b);
      }
      default: return nullptr;
    }
  }

  DatasetLayout layout(const std::string& name) const {
    H5Id ds = open(name);
    DatasetLayout l;
    l.shape = shape(ds.get(), name);
    l.storage_bytes = H5Dget_storage_size(ds.get());
    H5Id dcpl(H5Dget_create_plist(ds.get()));
    if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
      std::vector<hsize_t> c(l.shape.size());
      H5Pget_chunk(dcpl.get(), static_cast<int>(c.size()), c.data());
      l.chunks.assign(c.begin(), c.end());
    }
    const int nf = H5Pget_nfilters(dcpl.get());
    for (int i = 0; i < nf; ++i) {
      unsigned flags = 0, config = 0;
      std::size_t nelem = 0;
      char fname[64] = {0};
      const H5Z_filter_t id =
          H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelem, nullptr,
                         sizeof fname, fname, &config);
      switch (id) {
        case H5Z_FILTER_DEFLATE: l.filters.emplace_back("gzip"); break;
        case H5Z_FILTER_SHUFFLE: l.filters.emplace_back("shuffle"); break;
        case H5Z_FILTER_FLETCHER32: l.filters.emplace_back("fletcher32"); break;
        case 32000: l.filters.emplace_back("lzf"); break;
        case 32008: l.filters.emplace_back("bitshuffle"); break;
        default: l.filters.push_back(fmt::format("filter-{}", id));
      }
    }
    H5Eclear2(H5E_DEFAULT);
    return l;
  }

 private:
  hid_t file_;
  const fs::path& path_;
};

std::vector<std::array<double, 3>> triples(const std::vector<double>& flat) {
  std::vector<std::array<double, 3>> out(flat.size() / 3);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = {flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]};
  return out;
}

// All polarizations of one channel, moved as one trivially copyable block.
template <typename T, std::size_t N>
struct ChannelBlock {
  T v[N];
};

template <typename T, std::size_t N>
void reverse_rows_fixed(T* data, std::uint64_t nrows, std::uint64_t nfreqs) {
  auto* blocks = reinterpret_cast<ChannelBlock<T, N>*>(data);
  for (std::uint64_t r = 0; r < nrows; ++r) std::reverse(blocks + r * nfreqs, blocks + (r + 1) * nfreqs);
}

// Rows per read when a descending file is reversed on arrival: small enough
// to stay in L2 (2 MiB here) between HDF5's copy and the reversal, large
// enough that HDF5's per-read cost stays small (4 reads per subband-integration).
constexpr std::uint64_t kReversePieceBytes = 1 << 20;

// Channel order of every row reversed (descending files read as ascending).
template <typename T>
void reverse_channels(T* data, std::uint64_t nrows, std::uint64_t nfreqs, std::uint64_t npols) {
  switch (npols) {  // the common layouts as whole blocks: several times faster
    case 1: reverse_rows_fixed<T, 1>(data, nrows, nfreqs); return;
    case 2: reverse_rows_fixed<T, 2>(data, nrows, nfreqs); return;
    case 4: reverse_rows_fixed<T, 4>(data, nrows, nfreqs); return;
    default: break;
  }
  for (std::uint64_t r = 0; r < nrows; ++r) {
    T* row = data + r * nfreqs * npols;
    for (std::uint64_t lo = 0, hi = nfreqs - 1; lo < hi; ++lo, --hi) {
      std::swap_ranges(row + lo * npols, row + (lo + 1) * npols, row + hi * npols);
    }
  }
}

VisType vis_member_type(hid_t type, const fs::path& path) {
  const char* kName = "Data/visdata";
  if (H5Tget_class(type) != H5T_COMPOUND || H5Tget_nmembers(type) != 2) {
    fail(path, kName, "wrong type: expected a compound {r, i}");
  }
  const int ir = H5Tget_member_index(type, "r");
  const int ii = H5Tget_member_index(type, "i");
  if (ir < 0 || ii < 0) fail(path, kName, "wrong type: compound members must be named r and i");
  H5Id mr(H5Tget_member_type(type, static_cast<unsigned>(ir)));
  H5Id mi(H5Tget_member_type(type, static_cast<unsigned>(ii)));
  const auto cls = H5Tget_class(mr.get());
  const auto size = H5Tget_size(mr.get());
  if (H5Tget_class(mi.get()) != cls || H5Tget_size(mi.get()) != size) {
    fail(path, kName, "wrong type: r and i members differ");
  }
  if (cls == H5T_FLOAT && size == 4) return VisType::kFloat32;
  if (cls == H5T_FLOAT && size == 8) return VisType::kFloat64;
  if (cls == H5T_INTEGER && size == 4) return VisType::kInt32;
  fail(path, kName, fmt::format("wrong type: unsupported member type (class {}, {} bytes)",
                                static_cast<int>(cls), size));
}

// {r: float, i: float}, the memory image of std::complex<float>.
H5Id complex_float_type() {
  H5Id t(H5Tcreate(H5T_COMPOUND, sizeof(std::complex<float>)));
  H5Tinsert(t.get(), "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(t.get(), "i", sizeof(float), H5T_NATIVE_FLOAT);
  return t;
}

void check_data_shape(const Uvh5Header& h, const std::string& name, const DatasetLayout& l) {
  const auto& s = l.shape;
  const bool ok3 = s.size() == 3 && s[1] == static_cast<std::uint64_t>(h.nfreqs) &&
                   s[2] == static_cast<std::uint64_t>(h.npols);
  const bool ok4 = s.size() == 4 && s[1] == 1 && s[2] == static_cast<std::uint64_t>(h.nfreqs) &&
                   s[3] == static_cast<std::uint64_t>(h.npols);
  if ((!ok3 && !ok4) || s[0] != static_cast<std::uint64_t>(h.nblts)) {
    fail(h.path, name,
         fmt::format("wrong shape ({}): expected (Nblts={}, [1,] Nfreqs={}, Npols={})",
                     fmt::join(s, ", "), h.nblts, h.nfreqs, h.npols));
  }
}

}  // namespace

// ---- Uvh5File ---------------------------------------------------------------

Uvh5File::Uvh5File(const fs::path& path, CacheProfile profile, const CacheProfiles& profiles)
    : path_(path), profile_(profile), cache_(profiles.get(profile)) {
  silence_hdf5_errors_in_this_thread();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string() + ": no such file");
  const std::uint64_t size = fs::file_size(path, ec);
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(fmt::format("{}: not an HDF5 file ({} bytes)", path.string(), size));
  }
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_cache(fapl.get(), 0, cache_.slots, cache_.bytes, cache_.w0);
  file_ = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file_) {
    const std::string stack = take_hdf5_error_stack();
    if (stack.find("truncated") != std::string::npos) {
      throw InputError(fmt::format("{}: truncated file ({} bytes on disk; HDF5: {})", path.string(),
                                   size, stack));
    }
    throw InputError(fmt::format("{}: cannot open HDF5 file (HDF5: {})", path.string(), stack));
  }
  haddr_t eoa = 0;
  if (H5Fget_eoa(file_.get(), &eoa) >= 0 && eoa > size) {
    throw InputError(fmt::format("{}: truncated file: HDF5 expects {} bytes, {} on disk",
                                 path.string(), eoa, size));
  }
  spdlog::debug("opened {} with HDF5 cache profile {} ({} bytes, {} slots)", path.string(),
                to_string(profile_), cache_.bytes, cache_.slots);
}

CacheSettings Uvh5File::applied_cache() const {
  H5Id fapl(H5Fget_access_plist(file_.get()));
  int mdc = 0;
  std::size_t slots = 0, bytes = 0;
  double w0 = 0;
  H5Pget_cache(fapl.get(), &mdc, &slots, &bytes, &w0);
  return {bytes, slots, w0};
}

Uvh5Header Uvh5File::peek() const {
  const Reader r(file_.get(), path_);
  Uvh5Header h;
  h.path = path_;
  std::error_code ec;
  h.file_bytes = fs::file_size(path_, ec);
  if (!r.has("Header")) fail(path_, "Header", "missing group: not a UVH5 file");
  if (!r.has("Data")) fail(path_, "Data", "missing group: not a UVH5 file");
  h.layout = r.has("Header/phase_center_catalog") ? Layout::kV1 : Layout::kLegacy;
  h.version = r.string_or("Header/version");

  h.latitude_deg = r.scalar_double("Header/latitude");
  h.longitude_deg = r.scalar_double("Header/longitude");
  h.altitude_m = r.scalar_double("Header/altitude");
  h.telescope_name = r.string("Header/telescope_name");
  h.instrument = r.string_or("Header/instrument");
  h.object_name = r.string_or("Header/object_name");
  h.history = r.string_or("Header/history");
  h.phase_type = r.string_or("Header/phase_type");
  h.vis_units = r.string_or("Header/vis_units");
  h.x_orientation = r.string_or("Header/x_orientation");

  h.nants_data = r.scalar_int("Header/Nants_data");
  h.nants_telescope = r.scalar_int("Header/Nants_telescope");
  h.nbls = r.scalar_int("Header/Nbls");
  h.nblts = r.scalar_int("Header/Nblts");
  h.nfreqs = r.scalar_int("Header/Nfreqs");
  h.npols = r.scalar_int("Header/Npols");
  h.nspws = r.scalar_int("Header/Nspws");
  h.ntimes = r.scalar_int("Header/Ntimes");
  h.nphase = r.has("Header/Nphase") ? r.scalar_int("Header/Nphase") : 0;
  if (h.nblts <= 0 || h.nfreqs <= 0 || h.npols <= 0 || h.ntimes <= 0) {
    fail(path_, "Header", fmt::format("invalid dimensions Nblts={} Nfreqs={} Npols={} Ntimes={}",
                                      h.nblts, h.nfreqs, h.npols, h.ntimes));
  }

  h.freq_hz = r.doubles("Header/freq_array");
  if (h.freq_hz.size() != static_cast<std::size_t>(h.nfreqs)) {
    fail(path_, "Header/freq_array",
         fmt::format("wrong shape: {} values for Nfreqs={}", h.freq_hz.size(), h.nfreqs));
  }
  std::vector<std::uint64_t> cw_shape;
  h.channel_width_hz = r.doubles("Header/channel_width", &cw_shape);
  h.channel_width_scalar = cw_shape.empty();
  if (!h.channel_width_scalar && h.channel_width_hz.size() != h.freq_hz.size()) {
    fail(path_, "Header/channel_width",
         fmt::format("wrong shape: {} values for Nfreqs={}", h.channel_width_hz.size(), h.nfreqs));
  }
  h.spw = r.ints("Header/spw_array");
  if (r.has("Header/flex_spw_id_array")) h.flex_spw_id = r.ints("Header/flex_spw_id_array");
  h.polarization = r.ints("Header/polarization_array");
  if (h.polarization.size() != static_cast<std::size_t>(h.npols)) {
    fail(path_, "Header/polarization_array",
         fmt::format("wrong shape: {} values for Npols={}", h.polarization.size(), h.npols));
  }

  const auto times = r.doubles("Header/time_array");
  if (times.size() != static_cast<std::size_t>(h.nblts)) {
    fail(path_, "Header/time_array",
         fmt::format("wrong shape: {} values for Nblts={}", times.size(), h.nblts));
  }
  const auto [tmin, tmax] = std::minmax_element(times.begin(), times.end());
  h.time_min_jd = *tmin;
  h.time_max_jd = *tmax;
  {
    // First row only: integration_time is per row and constant in practice.
    H5Id ds = r.open("Header/integration_time");
    H5Id space(H5Dget_space(ds.get()));
    const hsize_t start = 0, one = 1;
    if (H5Sget_simple_extent_ndims(space.get()) == 1) {
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &one, nullptr);
    }
    H5Id mem(H5Screate_simple(1, &one, nullptr));
    if (H5Dread(ds.get(), H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT,
                &h.integration_time_s) < 0) {
      fail(path_, "Header/integration_time", "read failed");
    }
  }

  if (r.has("Header/extra_keywords")) {
    H5Id group(H5Gopen2(file_.get(), "Header/extra_keywords", H5P_DEFAULT));
    H5G_info_t info{};
    H5Gget_info(group.get(), &info);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256] = {0};
      H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                         H5P_DEFAULT);
      const std::string full = std::string("Header/extra_keywords/") + name;
      H5O_info_t oinfo{};
      if (H5Oget_info_by_name(file_.get(), full.c_str(), &oinfo, H5P_DEFAULT) < 0 ||
          oinfo.type != H5O_TYPE_DATASET) {
        H5Eclear2(H5E_DEFAULT);
        continue;
      }
      h.extra_keywords[name] = r.any(full);
    }
  }

  if (h.layout == Layout::kV1) {
    H5Id group(H5Gopen2(file_.get(), "Header/phase_center_catalog", H5P_DEFAULT));
    H5G_info_t info{};
    H5Gget_info(group.get(), &info);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[64] = {0};
      H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                         H5P_DEFAULT);
      const std::string base = std::string("Header/phase_center_catalog/") + name + "/";
      PhaseCenter pc;
      try {
        pc.id = std::stoll(name);
      } catch (const std::exception&) {
        fail(path_, base, "phase-centre catalogue entry is not named by an integer id");
      }
      pc.name = r.string_or(base + "cat_name");
      pc.type = r.string_or(base + "cat_type");
      pc.frame = r.string_or(base + "cat_frame");
      pc.lon_rad = r.scalar_double(base + "cat_lon");
      pc.lat_rad = r.scalar_double(base + "cat_lat");
      if (r.has(base + "cat_epoch")) {
        const auto e = r.any(base + "cat_epoch");
        if (e.is_number()) pc.epoch = e.get<double>();
      }
      h.phase_centers.push_back(std::move(pc));
    }
    std::sort(h.phase_centers.begin(), h.phase_centers.end(),
              [](const PhaseCenter& a, const PhaseCenter& b) { return a.id < b.id; });
  }

  const H5Id vis = r.open("Data/visdata");
  const H5Id vis_type(H5Dget_type(vis.get()));
  h.vis_type = vis_member_type(vis_type.get(), path_);
  h.visdata = r.layout("Data/visdata");
  h.flags = r.layout("Data/flags");
  h.nsamples = r.layout("Data/nsamples");
  check_data_shape(h, "Data/visdata", h.visdata);
  check_data_shape(h, "Data/flags", h.flags);
  check_data_shape(h, "Data/nsamples", h.nsamples);
  return h;
}

Uvh5Header Uvh5File::read_header() const { return complete_header(peek()); }

namespace {
void check_count(const fs::path& path, const std::string& name, std::size_t expected,
                 std::size_t got) {
  if (got != expected) fail(path, name, fmt::format("wrong shape: {} values, expected {}", got, expected));
}
}  // namespace

Uvh5File::RowAxes Uvh5File::read_row_axes(const Uvh5Header& peeked) const {
  const Reader r(file_.get(), path_);
  const auto nblts = static_cast<std::size_t>(peeked.nblts);
  RowAxes a{r.ints("Header/ant_1_array"), r.ints("Header/ant_2_array"),
            r.doubles("Header/time_array")};
  check_count(path_, "Header/ant_1_array", nblts, a.ant_1.size());
  check_count(path_, "Header/ant_2_array", nblts, a.ant_2.size());
  check_count(path_, "Header/time_array", nblts, a.time_jd.size());
  return a;
}

Uvh5Header Uvh5File::complete_header(Uvh5Header h) const {
  const Reader r(file_.get(), path_);
  const auto nblts = static_cast<std::size_t>(h.nblts);
  h.antenna_names = r.strings("Header/antenna_names");
  h.antenna_numbers = r.ints("Header/antenna_numbers");
  h.antenna_positions = triples(r.doubles("Header/antenna_positions"));
  const auto nant = static_cast<std::size_t>(h.nants_telescope);
  check_count(path_, "Header/antenna_names", nant, h.antenna_names.size());
  check_count(path_, "Header/antenna_numbers", nant, h.antenna_numbers.size());
  check_count(path_, "Header/antenna_positions", nant, h.antenna_positions.size());
  if (r.has("Header/antenna_diameters")) h.antenna_diameters = r.doubles("Header/antenna_diameters");

  auto axes = read_row_axes(h);
  h.ant_1 = std::move(axes.ant_1);
  h.ant_2 = std::move(axes.ant_2);
  h.time_jd = std::move(axes.time_jd);
  h.integration_time = r.doubles("Header/integration_time");
  h.uvw_m = triples(r.doubles("Header/uvw_array"));
  check_count(path_, "Header/integration_time", nblts, h.integration_time.size());
  check_count(path_, "Header/uvw_array", nblts, h.uvw_m.size());
  if (r.has("Header/lst_array")) {
    h.lst_rad = r.doubles("Header/lst_array");
    check_count(path_, "Header/lst_array", nblts, h.lst_rad.size());
  }
  if (r.has("Header/phase_center_id_array")) h.phase_center_id = r.ints("Header/phase_center_id_array");
  if (r.has("Header/phase_center_app_ra")) h.phase_center_app_ra = r.doubles("Header/phase_center_app_ra");
  if (r.has("Header/phase_center_app_dec")) h.phase_center_app_dec = r.doubles("Header/phase_center_app_dec");
  if (r.has("Header/phase_center_frame_pa")) h.phase_center_frame_pa = r.doubles("Header/phase_center_frame_pa");
  h.arrays_loaded = true;
  return h;
}

std::uint64_t Uvh5File::chunk_rows(const Uvh5Header& header) const {
  if (header.visdata.chunks.empty()) return static_cast<std::uint64_t>(header.nblts);
  return header.visdata.chunks[0];
}

void Uvh5File::read_rows(const Uvh5Header& header, std::uint64_t row0, std::uint64_t nrows,
                         const VisBlockView& out, ChannelOrder order) const {
  if (row0 + nrows > static_cast<std::uint64_t>(header.nblts)) {
    throw std::out_of_range(fmt::format("{}: rows [{}, {}) beyond Nblts={}", path_.string(), row0,
                                        row0 + nrows, header.nblts));
  }
  read_selection(header, {{row0, nrows}}, nrows, out, order);
}

std::vector<std::uint64_t> Uvh5File::read_times(const Uvh5Header& header, std::size_t t0,
                                                std::size_t t1, const VisBlockView& out,
                                                ChannelOrder order) const {
  if (!header.arrays_loaded) {
    throw std::logic_error("Uvh5File::read_times needs a full header (read_header)");
  }
  const TimeIndex index = build_time_index(header);
  if (t0 > t1 || t1 > index.times_jd.size()) {
    throw std::out_of_range(fmt::format("{}: time range [{}, {}) beyond {} unique times",
                                        path_.string(), t0, t1, index.times_jd.size()));
  }
  std::vector<std::uint64_t> rows;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  for (std::uint64_t r = 0; r < index.row_time.size(); ++r) {
    const auto t = index.row_time[r];
    if (t < t0 || t >= t1) continue;
    rows.push_back(r);
    if (!runs.empty() && runs.back().first + runs.back().second == r) {
      ++runs.back().second;
    } else {
      runs.emplace_back(r, 1);
    }
  }
  read_selection(header, runs, rows.size(), out, order);
  return rows;
}

const Uvh5File::OpenDataset& Uvh5File::open_data(DataSet which) const {
  auto& d = data_[static_cast<std::size_t>(which)];
  if (d.dataset) return d;
  static constexpr const char* kNames[] = {"Data/visdata", "Data/flags", "Data/nsamples"};
  const char* name = kNames[static_cast<std::size_t>(which)];
  const Reader r(file_.get(), path_);
  H5Id ds = r.open(name);
  H5Id ft(H5Dget_type(ds.get()));
  const auto cls = H5Tget_class(ft.get());
  switch (which) {
    case DataSet::kVis:
      vis_member_type(ft.get(), path_);
      d.mem_type = complex_float_type();
      break;
    case DataSet::kFlags:
      if ((cls != H5T_ENUM && cls != H5T_INTEGER && cls != H5T_BITFIELD) || H5Tget_size(ft.get()) != 1) {
        fail(path_, name, "wrong type: expected booleans (1-byte enum or integer)");
      }
      // Same-size native copy: the stored 0/1 bytes arrive unconverted.
      d.mem_type = cls == H5T_ENUM ? H5Id(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND))
                                   : H5Id(H5Tcopy(H5T_NATIVE_UINT8));
      break;
    case DataSet::kNsamples:
      if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(path_, name, "wrong type: expected numbers");
      d.mem_type = H5Id(H5Tcopy(H5T_NATIVE_FLOAT));
      break;
  }
  d.dataset = std::move(ds);
  return d;
}

void Uvh5File::read_runs(const Uvh5Header& header, const RowRuns& runs, const VisBlockView& out,
                         ChannelOrder order) const {
  std::uint64_t n = 0;
  for (const auto& [start, count] : runs) {
    if (start + count > static_cast<std::uint64_t>(header.nblts)) {
      throw std::out_of_range(fmt::format("{}: rows [{}, {}) beyond Nblts={}", path_.string(),
                                          start, start + count, header.nblts));
    }
    n += count;
  }
  read_selection(header, runs, n, out, order);
}

void Uvh5File::read_selection(const Uvh5Header& h, const RowRuns& runs, std::uint64_t nrows,
                              const VisBlockView& out, ChannelOrder order) const {
  silence_hdf5_errors_in_this_thread();
  const std::uint64_t nf = static_cast<std::uint64_t>(h.nfreqs);
  const std::uint64_t np = static_cast<std::uint64_t>(h.npols);
  const std::uint64_t nelem = nrows * nf * np;
  const bool reverse = order == ChannelOrder::kAscending && h.freq_descending();

  // Reads one dataset run by run. A descending file is reversed piece by
  // piece, right after each piece arrives, while it is still in the L2 cache:
  // reversing the whole block afterwards was an extra pass through memory
  // (10 % of a full-size conversion's CPU time, measured; docs/perf.md).
  auto read_one = [&](DataSet which, const char* name, const DatasetLayout& layout, auto* buffer,
                      std::size_t buffer_elems) {
    if (buffer_elems == 0) return;
    if (buffer_elems < nelem) {
      throw std::invalid_argument(fmt::format("{}: {}: buffer holds {} elements, {} needed",
                                              path_.string(), name, buffer_elems, nelem));
    }
    if (nrows == 0) return;
    const OpenDataset& d = open_data(which);
    H5Id space(H5Dget_space(d.dataset.get()));
    const std::size_t rank = layout.shape.size();
    std::vector<hsize_t> start(rank, 0), count(layout.shape.begin(), layout.shape.end());
    const std::uint64_t row_elems = nf * np;
    const std::uint64_t piece_rows =
        reverse ? std::max<std::uint64_t>(1, kReversePieceBytes / (row_elems * sizeof *buffer))
                : std::numeric_limits<std::uint64_t>::max();
    auto* dst = buffer;
    // One read per run (or piece), with a memory space shaped like the file
    // selection: HDF5 then copies whole rows instead of scattering elements.
    for (const auto& [row, n] : runs) {
      for (std::uint64_t done = 0; done < n;) {
        const std::uint64_t m = std::min(n - done, piece_rows);
        start[0] = row + done;
        count[0] = m;
        H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr);
        H5Id mem_space(H5Screate_simple(static_cast<int>(rank), count.data(), nullptr));
        if (H5Dread(d.dataset.get(), d.mem_type.get(), mem_space.get(), space.get(), H5P_DEFAULT,
                    dst) < 0) {
          fail(path_, name, "read failed (truncated file, corrupt chunk or missing filter plugin)");
        }
        if (reverse) reverse_channels(dst, m, nf, np);
        dst += m * row_elems;
        done += m;
      }
    }
  };

  read_one(DataSet::kVis, "Data/visdata", h.visdata, out.vis.data(), out.vis.size());
  read_one(DataSet::kFlags, "Data/flags", h.flags, out.flags.data(), out.flags.size());
  read_one(DataSet::kNsamples, "Data/nsamples", h.nsamples, out.nsamples.data(),
           out.nsamples.size());
}

TimeIndex build_time_index(const Uvh5Header& header) {
  TimeIndex idx;
  idx.times_jd = header.time_jd;
  std::sort(idx.times_jd.begin(), idx.times_jd.end());
  idx.times_jd.erase(std::unique(idx.times_jd.begin(), idx.times_jd.end()), idx.times_jd.end());
  idx.row_time.resize(header.time_jd.size());
  for (std::size_t r = 0; r < header.time_jd.size(); ++r) {
    idx.row_time[r] = static_cast<std::uint32_t>(
        std::lower_bound(idx.times_jd.begin(), idx.times_jd.end(), header.time_jd[r]) -
        idx.times_jd.begin());
  }
  return idx;
}

}  // namespace contimg::uvh5
