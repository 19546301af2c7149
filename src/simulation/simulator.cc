#include "simulation/simulator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <exception>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/constants.h"
#include "astro/time.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/progress.h"
#include "io/uvh5/uvh5_writer.h"
#include "simulation/instrument_model.h"
#include "sky/primary_beam.h"

namespace contimg::simulation {
namespace fs = std::filesystem;
namespace {

constexpr double kDeg = M_PI / 180.0;
constexpr double kTopFreqHz = 1498643188.4765625;
constexpr double kChannelWidthHz = 244140.625;
// UVH5/pyuvdata convention: V_12 = <E_1 E_2*> with uvw = x_2 - x_1, so a
// source at offset (l, m, n - 1) contributes S exp(+2 pi i (u l + v m + w (n - 1))).
// MS DATA = visdata and UVW = ant2 - ant1 (SPEC §4) then image correctly in
// WSClean and CASA (tests/tools/wsclean_position_check.py checks it).
constexpr double kPhaseSign = +1.0;

// The Earth-fixed equatorial frame turned to the site's meridian: x toward
// (HA = 0, Dec = 0), y east, z to the pole.
astro::Vec3 to_local_meridian_frame(const astro::Vec3& itrf, double lon_rad) {
  const double c = std::cos(lon_rad), s = std::sin(lon_rad);
  return {itrf[0] * c + itrf[1] * s, -itrf[0] * s + itrf[1] * c, itrf[2]};
}

astro::Vec3 hadec_vector(double ha, double dec) {
  return {std::cos(dec) * std::cos(ha), -std::cos(dec) * std::sin(ha), std::sin(dec)};
}

double dot(const astro::Vec3& a, const astro::Vec3& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

std::string iso_seconds(double jd) { return astro::jd_utc_to_iso(jd, 0); }

struct RfiBurst {
  int time = 0;
  int global_channel = 0;  // 48 * subband + file channel
  int nchan = 1;
  int ntimes = 1;
};

struct Baseline {
  int a1, a2;           // station indices (0-based)
  astro::Vec3 local;    // ant2 - ant1 in the local meridian frame, m
  astro::Vec3 uvw;      // toward (HA = 0, pointing Dec), m
};

// Everything that does not depend on the subband: built once per group.
struct Plan {
  std::vector<int> active;
  std::vector<Baseline> baselines;
  std::vector<double> times_jd;      // integration centres
  std::vector<double> global_freqs;  // 48 * nsubbands channels, descending
  std::vector<sky::Source> sources;
  // dir[t * nsrc + s]: source direction minus phase centre, local frame
  std::vector<astro::Vec3> offset;
  // beam_offset_rad[t * nsrc + s]: distance from the pointing centre
  std::vector<double> beam_offset_rad;
  std::vector<RfiBurst> rfi;
  InstrumentModel instrument;
  uvh5::Uvh5Header header;  // sb-independent part
};

}  // namespace

std::vector<int> active_station_indices(int n, int nstations) {
  std::vector<int> out;
  if (n >= nstations) {
    for (int i = 0; i < nstations; ++i) out.push_back(i);
    return out;
  }
  for (int k = 0; k < n; ++k) {
    out.push_back(static_cast<int>(std::lround(static_cast<double>(k) * (nstations - 1) / (n - 1))));
  }
  return out;
}

double power_law_flux(double min_jy, double max_jy, double slope, double u) {
  // Inverse of the cumulative distribution of dN/dS ∝ S^-slope on [min, max].
  if (std::abs(slope - 1) < 1e-9) return min_jy * std::pow(max_jy / min_jy, u);
  const double e = 1 - slope;
  return std::pow(std::pow(min_jy, e) + u * (std::pow(max_jy, e) - std::pow(min_jy, e)), 1 / e);
}

double channel_frequency_hz(int subband, int channel, int nchan) {
  return kTopFreqHz - (static_cast<double>(nchan) * subband + channel) * kChannelWidthHz;
}

Simulator::Simulator(const astro::Observatory& observatory, std::vector<astro::Station> stations)
    : observatory_(observatory), stations_(std::move(stations)) {
  if (stations_.size() != 117) {
    throw InputError(fmt::format("simulator: station table has {} stations, expected 117",
                                 stations_.size()));
  }
}

SimulationResult Simulator::run(const SimulationSpec& spec, const fs::path& out_dir,
                                Progress* progress, const InterruptGuard* interrupts) const {
  spec.validate();
  const double jd0 = astro::iso_to_jd_utc(spec.start_utc);
  const double dec0 = spec.pointing_dec_deg * kDeg;
  const double lon = observatory_.site().lon_deg * kDeg;
  const int nstations = static_cast<int>(stations_.size());
  const int npols = 2;

  Plan plan;
  plan.active = active_station_indices(spec.nants, nstations);
  for (int i = 0; i < spec.ntimes; ++i) {
    plan.times_jd.push_back(jd0 + (i + 0.5) * spec.integration_s / 86400.0);
  }
  const double jd_mid = 0.5 * (plan.times_jd.front() + plan.times_jd.back());
  for (int g = 0; g < 16 * spec.nchan; ++g) {
    plan.global_freqs.push_back(channel_frequency_hz(g / spec.nchan, g % spec.nchan, spec.nchan));
  }

  // Baselines with autocorrelations, a1 <= a2, in station order.
  const astro::Vec3 site_itrf = astro::geodetic_to_itrf(observatory_.site());
  const astro::Vec3 s0 = hadec_vector(0.0, dec0);
  const astro::Vec3 east{0, 1, 0};
  const astro::Vec3 north{-std::sin(dec0), 0, std::cos(dec0)};
  for (std::size_t i = 0; i < plan.active.size(); ++i) {
    for (std::size_t j = i; j < plan.active.size(); ++j) {
      const auto& p1 = stations_[static_cast<std::size_t>(plan.active[i])].itrf;
      const auto& p2 = stations_[static_cast<std::size_t>(plan.active[j])].itrf;
      Baseline b{plan.active[i], plan.active[j], {}, {}};
      b.local = to_local_meridian_frame({p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]}, lon);
      b.uvw = {dot(b.local, east), dot(b.local, north), dot(b.local, s0)};
      plan.baselines.push_back(b);
    }
  }

  // Sky: the given sources, a calibrator transiting mid-group, random sources.
  plan.sources = spec.sky.sources;
  std::mt19937_64 sky_rng(spec.seed * 104729 + 3);
  const auto centre = observatory_.meridian_icrs(jd_mid, dec0);
  if (spec.calibrator_at_transit) {
    sky::Source cal;
    cal.name = spec.calibrator_name;
    cal.ra_rad = centre.ra_rad;
    cal.dec_rad = centre.dec_rad;
    cal.flux_jy = spec.calibrator_flux_jy;
    plan.sources.insert(plan.sources.begin(), cal);
  }
  {
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    const double radius = 1.2 * kDeg;
    for (int k = 0; k < spec.random_sources; ++k) {
      const double r = radius * std::sqrt(u01(sky_rng)), phi = 2 * M_PI * u01(sky_rng);
      sky::Source s;
      s.name = fmt::format("SIM{:03d}", k);
      s.dec_rad = centre.dec_rad + r * std::cos(phi);
      s.ra_rad = centre.ra_rad + r * std::sin(phi) / std::cos(s.dec_rad);
      s.flux_jy = power_law_flux(spec.random_min_jy, spec.random_max_jy, spec.random_count_slope, u01(sky_rng));
      s.spectral_index = -0.7;
      plan.sources.push_back(s);
    }
  }
  const std::size_t nsrc = plan.sources.size();
  for (double t : plan.times_jd) {
    for (const auto& s : plan.sources) {
      const auto hd = observatory_.observed_hadec({s.ra_rad, s.dec_rad}, t);
      const auto v = hadec_vector(hd.ra_rad, hd.dec_rad);
      plan.offset.push_back({v[0] - s0[0], v[1] - s0[1], v[2] - s0[2]});
      plan.beam_offset_rad.push_back(sky::angular_distance(-hd.ra_rad, hd.dec_rad, 0.0, dec0));
    }
  }

  // RFI bursts: short, narrow, strong, on every cross-correlation.
  {
    std::uniform_int_distribution<int> t_dist(0, spec.ntimes - 1);
    std::uniform_int_distribution<int> c_dist(0, 16 * spec.nchan - 1);
    std::uniform_int_distribution<int> w_dist(1, 3);
    for (int k = 0; k < spec.rfi_bursts; ++k) {
      RfiBurst b{t_dist(sky_rng), c_dist(sky_rng), w_dist(sky_rng), w_dist(sky_rng) == 3 ? 2 : 1};
      b.nchan = std::min(b.nchan, 16 * spec.nchan - b.global_channel);
      b.ntimes = std::min(b.ntimes, spec.ntimes - b.time);
      plan.rfi.push_back(b);
    }
  }

  std::vector<int> dead_indices;
  for (int s : spec.dead_stations) dead_indices.push_back(s - 1);
  plan.instrument = InstrumentModel::make(nstations, npols, plan.global_freqs, spec.gain_amp_rms,
                                          spec.gain_phase_rms_deg * kDeg, spec.bandpass_ripple,
                                          spec.delay_rms_ns * 1e-9, dead_indices, spec.apply_gains,
                                          spec.instrument_seed ? spec.instrument_seed : spec.seed);

  // The subband-independent header.
  auto& h = plan.header;
  h.latitude_deg = observatory_.site().lat_deg;
  h.longitude_deg = observatory_.site().lon_deg;
  h.altitude_m = observatory_.site().height_m;
  h.telescope_name = "DSA-110";
  h.instrument = "DSA-110";
  h.object_name = "drift";
  h.history = fmt::format("Simulated by contimg {} simulate (seed {})", build::kVersion, spec.seed);
  h.phase_type = "drift";
  h.vis_units = "Jy";
  h.nants_telescope = nstations;
  h.nants_data = static_cast<std::int64_t>(plan.active.size());
  h.nbls = static_cast<std::int64_t>(plan.baselines.size());
  h.ntimes = spec.ntimes;
  h.nblts = h.nbls * h.ntimes;
  h.nfreqs = spec.nchan;
  h.npols = npols;
  h.nspws = 1;
  for (int a = 0; a < nstations; ++a) {
    const auto& st = stations_[static_cast<std::size_t>(a)];
    h.antenna_names.push_back(std::to_string(st.number));
    h.antenna_numbers.push_back(st.number - 1);
    h.antenna_positions.push_back(
        {st.itrf[0] - site_itrf[0], st.itrf[1] - site_itrf[1], st.itrf[2] - site_itrf[2]});
    h.antenna_diameters.push_back(astro::kDishDiameterM);
  }
  for (std::size_t t = 0; t < plan.times_jd.size(); ++t) {
    const double lst = observatory_.local_apparent_sidereal_time(plan.times_jd[t]);
    for (const auto& b : plan.baselines) {
      h.ant_1.push_back(b.a1);
      h.ant_2.push_back(b.a2);
      h.time_jd.push_back(plan.times_jd[t]);
      h.integration_time.push_back(spec.integration_s);
      h.lst_rad.push_back(lst);
      h.uvw_m.push_back(b.uvw);
    }
  }
  h.channel_width_hz = {-kChannelWidthHz};
  h.channel_width_scalar = true;
  h.spw = {0};
  h.polarization = {-5, -6};
  std::string delays;
  for (int a = 0; a < nstations; ++a) delays += (a ? " " : "") + std::string("0");
  h.extra_keywords = {{"phase_center_dec", dec0},
                      {"ha_phase_center", 0.0},
                      {"phase_center_epoch", "HADEC"},
                      {"fs_table", "simulated"},
                      {"applied_delays_ns", delays}};
  h.arrays_loaded = true;

  std::vector<int> subbands = spec.subbands;
  if (subbands.empty()) {
    for (int k = 0; k < spec.nsubbands; ++k) subbands.push_back(k);
  }
  // File name timestamps: sb00 is the group id; the others jitter.
  std::vector<std::string> names(16);
  {
    std::uniform_int_distribution<int> jitter(-spec.jitter_s, spec.jitter_s);
    for (int k = 0; k < 16; ++k) {
      const int j = k == 0 ? 0 : jitter(sky_rng);
      names[static_cast<std::size_t>(k)] =
          fmt::format("{}_sb{:02d}.hdf5", iso_seconds(jd0 + j / 86400.0), k);
    }
  }

  fs::create_directories(out_dir);
  uvh5::WriteOptions wopt;
  wopt.compression = spec.compression;
  wopt.chunk_rows = spec.chunk_rows;
  const std::uint64_t row_bytes = static_cast<std::uint64_t>(spec.nchan * npols) * 8;
  if (wopt.compression != uvh5::Compression::kNone && wopt.chunk_rows == 0) {
    wopt.chunk_rows = std::max<std::uint64_t>(1, (3u << 20) / row_bytes);  // ~3 MB chunks
  }

  SimulationResult result;
  result.group_id = iso_seconds(jd0);
  result.files.resize(subbands.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> bytes{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  auto work = [&] {
    for (;;) {
      const std::size_t idx = next.fetch_add(1);
      if (idx >= subbands.size()) return;
      const int k = subbands[idx];
      try {
        uvh5::Uvh5Header hk = plan.header;
        for (int j = 0; j < spec.nchan; ++j) hk.freq_hz.push_back(channel_frequency_hz(k, j, spec.nchan));
        const fs::path final_path = out_dir / names[static_cast<std::size_t>(k)];
        const fs::path part = fs::path(final_path.string() + ".part");
        std::mt19937_64 rng(spec.seed * 1000003 + static_cast<std::uint64_t>(k));
        std::normal_distribution<double> noise(0.0, std::max(spec.noise_jy, 1e-300));  // used only when > 0
        const std::size_t nbls = plan.baselines.size();
        const std::size_t per_row = static_cast<std::size_t>(spec.nchan * npols);
        std::vector<std::complex<float>> vis(nbls * per_row);
        std::vector<std::uint8_t> flags(nbls * per_row, 0);
        std::vector<float> nsamples(nbls * per_row, 1.0f);
        std::vector<double> sa(nsrc * static_cast<std::size_t>(spec.nchan));
        std::vector<std::complex<double>> model(static_cast<std::size_t>(spec.nchan));
        {
          uvh5::Uvh5Writer writer(part, hk, wopt);
          for (int t = 0; t < spec.ntimes; ++t) {
            if (interrupts) interrupts->throw_if_interrupted();
            const auto ts = static_cast<std::size_t>(t);
            // Apparent flux x beam per source and channel at this time.
            for (std::size_t s = 0; s < nsrc; ++s) {
              for (int j = 0; j < spec.nchan; ++j) {
                const double f = hk.freq_hz[static_cast<std::size_t>(j)];
                sa[s * static_cast<std::size_t>(spec.nchan) + static_cast<std::size_t>(j)] =
                    plan.sources[s].flux_at(f) * sky::airy_power(plan.beam_offset_rad[ts * nsrc + s], f);
              }
            }
            const double f0 = hk.freq_hz.front();
            const double df = spec.nchan > 1 ? hk.freq_hz[1] - hk.freq_hz[0] : 0.0;
            for (std::size_t bi = 0; bi < nbls; ++bi) {
              const auto& b = plan.baselines[bi];
              std::fill(model.begin(), model.end(), 0.0);
              const bool autocorr = b.a1 == b.a2;
              for (std::size_t s = 0; s < nsrc; ++s) {
                const double* sas = &sa[s * static_cast<std::size_t>(spec.nchan)];
                if (autocorr) {
                  for (int j = 0; j < spec.nchan; ++j) model[static_cast<std::size_t>(j)] += sas[j];
                  continue;
                }
                const double tau = dot(b.local, plan.offset[ts * nsrc + s]) / kSpeedOfLight;  // s
                std::complex<double> ph = std::polar(1.0, kPhaseSign * 2 * M_PI * f0 * tau);
                const std::complex<double> step = std::polar(1.0, kPhaseSign * 2 * M_PI * df * tau);
                double envelope = 1.0;
                const auto& src = plan.sources[s];
                if (!src.is_point()) {
                  // Gaussian visibility envelope in the meridian-frame (u, v).
                  const double u = b.uvw[0] * f0 / kSpeedOfLight, v = b.uvw[1] * f0 / kSpeedOfLight;
                  const double up = u * std::sin(src.pa_rad) + v * std::cos(src.pa_rad);
                  const double vp = u * std::cos(src.pa_rad) - v * std::sin(src.pa_rad);
                  const double k2 = M_PI * M_PI / (4 * std::log(2.0));
                  envelope = std::exp(-k2 * (std::pow(src.major_fwhm_rad * up, 2) +
                                             std::pow(src.minor_fwhm_rad * vp, 2)));
                }
                for (int j = 0; j < spec.nchan; ++j) {
                  model[static_cast<std::size_t>(j)] += envelope * sas[j] * ph;
                  ph *= step;
                }
              }
              const int gch0 = k * spec.nchan;
              const auto& inst = plan.instrument;
              for (int j = 0; j < spec.nchan; ++j) {
                for (int p = 0; p < npols; ++p) {
                  std::complex<double> v = model[static_cast<std::size_t>(j)];
                  if (autocorr) v += spec.auto_sefd_jy;
                  const bool dead = inst.dead[static_cast<std::size_t>(b.a1)] ||
                                    inst.dead[static_cast<std::size_t>(b.a2)];
                  v = dead ? 0.0
                           : v * inst.g(b.a1, p) * std::conj(inst.g(b.a2, p)) *
                                 inst.bp(b.a1, p, gch0 + j) * std::conj(inst.bp(b.a2, p, gch0 + j));
                  if (spec.noise_jy > 0) {
                    v += autocorr ? std::complex<double>(noise(rng), 0.0)
                                  : std::complex<double>(noise(rng), noise(rng));
                  }
                  vis[bi * per_row + static_cast<std::size_t>(j * npols + p)] =
                      std::complex<float>(static_cast<float>(v.real()), static_cast<float>(v.imag()));
                }
              }
              if (!autocorr) {
                for (const auto& burst : plan.rfi) {
                  if (t < burst.time || t >= burst.time + burst.ntimes) continue;
                  for (int g = burst.global_channel; g < burst.global_channel + burst.nchan; ++g) {
                    if (g / spec.nchan != k) continue;
                    const int j = g % spec.nchan;
                    const double phase = 2 * M_PI * std::fmod(0.6180339887 * static_cast<double>(bi * 131 + g), 1.0);
                    for (int p = 0; p < npols; ++p) {
                      vis[bi * per_row + static_cast<std::size_t>(j * npols + p)] +=
                          std::polar(static_cast<float>(spec.rfi_amplitude_jy), static_cast<float>(phase));
                    }
                  }
                }
              }
            }
            writer.write_rows(ts * nbls, nbls, {vis, flags, nsamples});
            if (progress) progress->advance();
          }
          writer.close();
        }
        fs::rename(part, final_path);
        bytes += fs::file_size(final_path);
        result.files[idx] = final_path;
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next = subbands.size();  // stop the others
      }
    }
  };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned nthreads = std::min<unsigned>(spec.threads > 0 ? static_cast<unsigned>(spec.threads) : hw,
                                               static_cast<unsigned>(subbands.size()));
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < nthreads; ++i) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  if (error) {
    for (const auto& name : names) {
      std::error_code ec;
      fs::remove(out_dir / (name + ".part"), ec);
    }
    std::rethrow_exception(error);
  }
  result.bytes_written = bytes.load();

  // Truth: what calibration, imaging and validation must recover.
  nlohmann::json truth;
  truth["group_id"] = result.group_id;
  truth["generator"] = fmt::format("contimg {} simulate", build::kVersion);
  truth["spec"] = to_json(spec);
  truth["sky"] = sky::to_json(sky::SkyModel{plan.sources});
  truth["flux_convention"] = "Stokes I; XX = YY = I for unpolarized sources (CASA convention)";
  truth["pointing"] = {{"dec_deg", spec.pointing_dec_deg},
                       {"meridian_icrs_mid_deg", {centre.ra_rad / kDeg, centre.dec_rad / kDeg}}};
  truth["times_jd"] = plan.times_jd;
  std::vector<int> active_numbers;
  for (int a : plan.active) active_numbers.push_back(a + 1);
  truth["active_stations"] = active_numbers;
  truth["instrument"] = to_json(plan.instrument);
  nlohmann::json rfi = nlohmann::json::array();
  for (const auto& b : plan.rfi) {
    rfi.push_back({{"time_index", b.time}, {"ntimes", b.ntimes}, {"global_channel", b.global_channel},
                   {"nchan", b.nchan}, {"baselines", "all cross-correlations"}});
  }
  truth["rfi_bursts"] = rfi;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : result.files) files.push_back(f.filename().string());
  truth["files"] = files;
  result.truth = out_dir / (result.group_id + ".truth.json");
  {
    const fs::path part = fs::path(result.truth.string() + ".part");
    std::ofstream out(part);
    out << truth.dump(1) << "\n";
    if (!out) throw IoError("cannot write " + part.string());
    out.close();
    fs::rename(part, result.truth);
  }
  return result;
}

}  // namespace contimg::simulation
