#include "io/uvh5/uvh5_writer.h"

#include <H5Zpublic.h>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::uvh5 {
namespace fs = std::filesystem;
namespace {

constexpr H5Z_filter_t kLzfFilter = 32000;
constexpr H5Z_filter_t kBitshuffleFilter = 32008;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  const std::string stack = take_hdf5_error_stack();
  throw IoError(fmt::format("{}: cannot write {}{}", path.string(), what,
                            stack.empty() ? "" : " (HDF5: " + stack + ")"));
}

class HeaderWriter {
 public:
  HeaderWriter(hid_t group, const fs::path& path) : group_(group), path_(path) {}

  void raw(const std::string& name, hid_t file_type, hid_t mem_type,
           const std::vector<hsize_t>& dims, const void* data) {
    H5Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    H5Id ds(H5Dcreate2(group_, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT));
    if (!ds || H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      fail(path_, "Header/" + name);
    }
  }
  void f64(const std::string& name, double v) { raw(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &v); }
  void i64(const std::string& name, std::int64_t v) { raw(name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &v); }
  void f64s(const std::string& name, const std::vector<double>& v, std::vector<hsize_t> dims = {}) {
    if (dims.empty()) dims = {v.size()};
    raw(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, v.data());
  }
  void i64s(const std::string& name, const std::vector<std::int64_t>& v) {
    raw(name, H5T_STD_I64LE, H5T_NATIVE_INT64, {v.size()}, v.data());
  }
  void triples(const std::string& name, const std::vector<std::array<double, 3>>& v, bool as_float32) {
    raw(name, as_float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {v.size(), 3},
        v.data());
  }
  // Fixed-length, NUL-padded strings, as h5py writes numpy bytes.
  void strings(const std::string& name, const std::vector<std::string>& v, bool scalar) {
    std::size_t len = 1;
    for (const auto& s : v) len = std::max(len, s.size());
    H5Id type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), len);
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    std::vector<char> buf(len * v.size(), '\0');
    for (std::size_t i = 0; i < v.size(); ++i) std::copy(v[i].begin(), v[i].end(), buf.begin() + i * len);
    raw(name, type.get(), type.get(), scalar ? std::vector<hsize_t>{} : std::vector<hsize_t>{v.size()},
        buf.data());
  }
  void string(const std::string& name, const std::string& v) { strings(name, {v}, true); }

 private:
  hid_t group_;
  const fs::path& path_;
};

// h5py's boolean: an int8 enum {FALSE = 0, TRUE = 1}.
H5Id bool_type() {
  H5Id t(H5Tenum_create(H5T_NATIVE_INT8));
  std::int8_t f = 0, t1 = 1;
  H5Tenum_insert(t.get(), "FALSE", &f);
  H5Tenum_insert(t.get(), "TRUE", &t1);
  return t;
}

H5Id vis_file_type(VisType type) {
  hid_t member = H5T_IEEE_F32LE;
  std::size_t size = 4;
  if (type == VisType::kFloat64) {
    member = H5T_IEEE_F64LE;
    size = 8;
  } else if (type == VisType::kInt32) {
    member = H5T_STD_I32LE;
  }
  H5Id t(H5Tcreate(H5T_COMPOUND, 2 * size));
  H5Tinsert(t.get(), "r", 0, member);
  H5Tinsert(t.get(), "i", size, member);
  return t;
}

H5Id complex_float_mem_type() {
  H5Id t(H5Tcreate(H5T_COMPOUND, sizeof(std::complex<float>)));
  H5Tinsert(t.get(), "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(t.get(), "i", sizeof(float), H5T_NATIVE_FLOAT);
  return t;
}

}  // namespace

Compression parse_compression(const std::string& name) {
  if (name == "none") return Compression::kNone;
  if (name == "gzip") return Compression::kGzip;
  if (name == "lzf") return Compression::kLzf;
  if (name == "bitshuffle") return Compression::kBitshuffle;
  throw ConfigError("unknown compression \"" + name + "\" (none, gzip, lzf, bitshuffle)");
}

const char* to_string(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kLzf: return "lzf";
    case Compression::kBitshuffle: return "bitshuffle";
  }
  return "?";
}

Uvh5Writer::Uvh5Writer(const fs::path& path, const Uvh5Header& h, const WriteOptions& options)
    : path_(path),
      nblts_(static_cast<std::uint64_t>(h.nblts)),
      nfreqs_(static_cast<std::uint64_t>(h.nfreqs)),
      npols_(static_cast<std::uint64_t>(h.npols)),
      four_d_(options.four_d) {
  if (!h.arrays_loaded) throw std::invalid_argument("Uvh5Writer needs a header with its arrays");
  if (options.compression != Compression::kNone && options.chunk_rows == 0) {
    throw std::invalid_argument("compressed UVH5 datasets need chunk_rows > 0");
  }
  file_ = H5Id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file_) fail(path, "file");
  {
    H5Id group(H5Gcreate2(file_.get(), "Header", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    HeaderWriter w(group.get(), path);
    w.f64("latitude", h.latitude_deg);
    w.f64("longitude", h.longitude_deg);
    w.f64("altitude", h.altitude_m);
    w.string("telescope_name", h.telescope_name);
    w.string("instrument", h.instrument);
    w.string("object_name", h.object_name);
    w.string("history", h.history);
    w.string("phase_type", h.phase_type.empty() ? "drift" : h.phase_type);
    if (!h.vis_units.empty()) w.string("vis_units", h.vis_units);
    w.i64("Nants_data", h.nants_data);
    w.i64("Nants_telescope", h.nants_telescope);
    w.i64("Nbls", h.nbls);
    w.i64("Nblts", h.nblts);
    w.i64("Nfreqs", h.nfreqs);
    w.i64("Npols", h.npols);
    w.i64("Nspws", h.nspws);
    w.i64("Ntimes", h.ntimes);
    w.i64s("ant_1_array", h.ant_1);
    w.i64s("ant_2_array", h.ant_2);
    w.strings("antenna_names", h.antenna_names, false);
    w.i64s("antenna_numbers", h.antenna_numbers);
    w.triples("antenna_positions", h.antenna_positions, false);
    if (!h.antenna_diameters.empty()) w.f64s("antenna_diameters", h.antenna_diameters);
    w.triples("uvw_array", h.uvw_m, /*as_float32=*/true);  // as the DSA-110 correlator writes
    w.f64s("time_array", h.time_jd);
    w.f64s("integration_time", h.integration_time);
    if (!h.lst_rad.empty()) w.f64s("lst_array", h.lst_rad);
    w.f64s("freq_array", h.freq_hz, {1, h.freq_hz.size()});
    if (h.channel_width_scalar) {
      w.f64("channel_width", h.channel_width_hz.at(0));
    } else {
      w.f64s("channel_width", h.channel_width_hz);
    }
    w.i64s("spw_array", h.spw.empty() ? std::vector<std::int64_t>{0} : h.spw);
    w.i64s("polarization_array", h.polarization);

    H5Id extra(H5Gcreate2(group.get(), "extra_keywords", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    HeaderWriter x(extra.get(), path);
    for (const auto& [key, value] : h.extra_keywords.items()) {
      if (value.is_number_integer()) x.i64(key, value.get<std::int64_t>());
      else if (value.is_number()) x.f64(key, value.get<double>());
      else if (value.is_string()) x.string(key, value.get<std::string>());
      else throw std::invalid_argument("extra_keywords." + key + ": unsupported value type");
    }
  }

  H5Id data(H5Gcreate2(file_.get(), "Data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  std::vector<hsize_t> dims = four_d_ ? std::vector<hsize_t>{nblts_, 1, nfreqs_, npols_}
                                      : std::vector<hsize_t>{nblts_, nfreqs_, npols_};
  H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  auto create = [&](const char* name, hid_t type) {
    H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    if (options.chunk_rows > 0) {
      std::vector<hsize_t> chunk = dims;
      chunk[0] = std::min<hsize_t>(options.chunk_rows, nblts_);
      H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
      switch (options.compression) {
        case Compression::kGzip: H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.gzip_level)); break;
        case Compression::kLzf:
          // Optional, as h5py adds it: LZF refuses chunks it cannot shrink
          // (noise-like visibilities), which are then stored as they are.
          if (H5Pset_filter(dcpl.get(), kLzfFilter, H5Z_FLAG_OPTIONAL, 0, nullptr) < 0) {
            fail(path_, std::string("Data/") + name + " with LZF (filter plugin missing?)");
          }
          break;
        case Compression::kBitshuffle: {
          const unsigned cd[] = {0, 0, 0, 0, 2};  // auto block size, LZ4 compression
          if (H5Pset_filter(dcpl.get(), kBitshuffleFilter, H5Z_FLAG_MANDATORY, 5, cd) < 0) {
            fail(path_, std::string("Data/") + name + " with bitshuffle (filter plugin missing?)");
          }
          break;
        }
        case Compression::kNone: break;
      }
    }
    H5Id ds(H5Dcreate2(data.get(), name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    if (!ds) fail(path_, std::string("Data/") + name);
    return ds;
  };
  vis_ = create("visdata", vis_file_type(options.vis_type).get());
  flags_ = create("flags", bool_type().get());
  nsamples_ = create("nsamples", H5T_IEEE_F32LE);
}

void Uvh5Writer::write_rows(std::uint64_t row0, std::uint64_t nrows, const VisBlockConstView& in) {
  if (!file_) throw std::logic_error(path_.string() + ": write after close");
  const std::uint64_t nelem = nrows * nfreqs_ * npols_;
  if (row0 + nrows > nblts_ || in.vis.size() < nelem || in.flags.size() < nelem ||
      in.nsamples.size() < nelem) {
    throw std::invalid_argument(fmt::format("{}: write_rows [{}, {}) with buffers of {} elements",
                                            path_.string(), row0, row0 + nrows, in.vis.size()));
  }
  const hsize_t mem_n = nelem;
  H5Id mem_space(H5Screate_simple(1, &mem_n, nullptr));
  auto write = [&](const H5Id& ds, hid_t mem_type, const void* buf, const char* name) {
    H5Id space(H5Dget_space(ds.get()));
    std::vector<hsize_t> start(four_d_ ? 4 : 3, 0);
    std::vector<hsize_t> count = four_d_ ? std::vector<hsize_t>{nrows, 1, nfreqs_, npols_}
                                         : std::vector<hsize_t>{nrows, nfreqs_, npols_};
    start[0] = row0;
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    if (H5Dwrite(ds.get(), mem_type, mem_space.get(), space.get(), H5P_DEFAULT, buf) < 0) {
      fail(path_, std::string("Data/") + name);
    }
  };
  write(vis_, complex_float_mem_type().get(), in.vis.data(), "visdata");
  H5Id flag_mem = bool_type();
  write(flags_, flag_mem.get(), in.flags.data(), "flags");
  write(nsamples_, H5T_NATIVE_FLOAT, in.nsamples.data(), "nsamples");
}

void Uvh5Writer::close() {
  if (!file_) return;
  vis_.reset();
  flags_.reset();
  nsamples_.reset();
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail(path_, "file (flush)");
  file_.reset();
}

Uvh5Writer::~Uvh5Writer() {
  try {
    close();
  } catch (...) {
    // Destructors must not throw; a caller that cares calls close() itself.
  }
}

}  // namespace contimg::uvh5
