#include "imaging/drift_correction.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "calibration/predict.h"
#include "common/constants.h"
#include "common/error.h"
#include "imaging/primary_beam_image.h"
#include "sky/primary_beam.h"

namespace contimg::imaging {
namespace {
// Below this effective beam a component's true flux (S / Ā) is not known
// well enough to correct it.
constexpr double kMinBeam = 1e-3;
// The single-precision phase rotation restarts from a double-precision
// phasor this often (a power of two: step^32 is five squarings), bounding
// its rounding growth.
constexpr std::size_t kReseedChannels = 32;
static_assert((kReseedChannels & (kReseedChannels - 1)) == 0);

// Linear in frequency through the points (sorted by frequency), extended
// along the end segments; one point is a constant.
double interpolate(const std::vector<std::pair<double, double>>& pts, double f) {
  if (pts.size() == 1) return pts.front().second;
  std::size_t i = 1;
  while (i + 1 < pts.size() && pts[i].first < f) ++i;
  const auto& [f0, s0] = pts[i - 1];
  const auto& [f1, s1] = pts[i];
  return f1 == f0 ? 0.5 * (s0 + s1) : s0 + (s1 - s0) * (f - f0) / (f1 - f0);
}
}  // namespace

DriftCorrection::DriftCorrection(std::span<const DriftComponent> components,
                                 const astro::SkyDirection& centre,
                                 std::span<const astro::SkyDirection> pointings,
                                 std::span<const double> chan_freq_hz,
                                 std::span<const double> beam_freqs_hz, double negligible_jy)
    : freq_(chan_freq_hz.begin(), chan_freq_hz.end()), nint_(pointings.size()) {
  if (pointings.empty() || chan_freq_hz.empty() || beam_freqs_hz.empty()) {
    throw InputError("drift correction: needs pointings, channel frequencies and beam frequencies");
  }
  const std::size_t nchan = freq_.size(), per_component = nint_ * nchan;
  struct Candidate {
    calibration::Lmn lmn;
    std::vector<float> gain;
    double error = 0;  // |S| max |A / Ā − 1|: the drift left in the data
    std::size_t index = 0;
    bool whole = false;
  };
  std::vector<Candidate> cand;
  for (const auto& c : components) {
    const double mean = effective_beam(c.ra_rad, c.dec_rad, pointings, beam_freqs_hz);
    if (!(mean >= kMinBeam) || c.flux_jy == 0) continue;
    Candidate k;
    k.index = static_cast<std::size_t>(&c - components.data());
    k.whole = c.whole;
    k.lmn = calibration::direction_cosines({centre.ra_rad, centre.dec_rad}, {c.ra_rad, c.dec_rad});
    if (k.lmn.n <= 0) continue;
    // A(k, ν), then per channel the apparent flux S(ν) and its beam Ā(ν).
    std::vector<double> beam(per_component), apparent(nchan, c.flux_jy), mean_at(nchan, mean);
    for (std::size_t i = 0; i < nint_; ++i) {
      const double theta =
          sky::angular_distance(c.ra_rad, c.dec_rad, pointings[i].ra_rad, pointings[i].dec_rad);
      for (std::size_t f = 0; f < nchan; ++f)
        beam[i * nchan + f] = sky::airy_power(theta, freq_[f]);
    }
    if (!c.spectrum.empty()) {
      for (std::size_t f = 0; f < nchan; ++f) {
        double sum = 0;
        for (std::size_t i = 0; i < nint_; ++i) sum += beam[i * nchan + f];
        mean_at[f] = sum / static_cast<double>(nint_);
        apparent[f] = interpolate(c.spectrum, freq_[f]);
      }
    }
    k.gain.reserve(per_component);
    for (std::size_t i = 0; i < nint_; ++i) {
      for (std::size_t f = 0; f < nchan; ++f) {
        const double g = apparent[f] * beam[i * nchan + f] / mean_at[f] - c.flux_jy;
        k.gain.push_back(static_cast<float>(c.whole ? g + c.flux_jy : g));
        k.error = std::max(k.error, std::abs(g));
      }
    }
    cand.push_back(std::move(k));
  }
  // Leave out the components whose drift errors add up to no more than
  // negligible_jy, the smallest first: they cost as much as the others.
  std::vector<std::size_t> order(cand.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return cand[a].error < cand[b].error; });
  std::vector<char> keep(cand.size(), 1);
  double dropped = 0;
  for (std::size_t i : order) {
    if (cand[i].whole) continue;
    if (dropped + cand[i].error > negligible_jy) break;
    dropped += cand[i].error;
    keep[i] = 0;
  }
  left_out_ = cand.size() - static_cast<std::size_t>(std::count(keep.begin(), keep.end(), 1));
  left_out_error_jy_ = dropped;
  for (std::size_t i = 0; i < cand.size(); ++i) {
    if (!keep[i]) continue;
    kept_.push_back(cand[i].index);
    l_.push_back(cand[i].lmn.l);
    m_.push_back(cand[i].lmn.m);
    nm1_.push_back(cand[i].lmn.n - 1);
    gain_.insert(gain_.end(), cand[i].gain.begin(), cand[i].gain.end());
  }
}

namespace {
constexpr std::size_t kLanes = 16;  // rows whose phase rotations run side by side
// Each loop over the lanes stays a loop (`#pragma GCC unroll 1`), for the
// vectoriser: at -O3 GCC first unrolls a 16-iteration loop completely, and
// the straight-line code left vectorises worse (the subtraction took 1.7x
// as long; docs/perf.md "-O3"). At -O2 it is also ~15 % faster.

// One run of channels with one rotation per channel: the lanes' phasors
// z (at the run's first channel) and steps s, rotated channel by channel
// while g (per lane, or one for all lanes) weighs them into the sums.
template <bool kOneGain>
inline void rotate_and_add(std::size_t c0, std::size_t c1, float* zr, float* zi, const float* sr,
                           const float* si, const float* const* g, float* acc_re, float* acc_im) {
  float r[kLanes], i[kLanes];
#pragma GCC unroll 1
  for (std::size_t j = 0; j < kLanes; ++j) r[j] = zr[j], i[j] = zi[j];
  for (std::size_t c = c0; c < c1; ++c) {
    float gl[kLanes];
    if constexpr (kOneGain) {
#pragma GCC unroll 1
      for (std::size_t j = 0; j < kLanes; ++j) gl[j] = g[0][c];
    } else {
#pragma GCC unroll 1
      for (std::size_t j = 0; j < kLanes; ++j) gl[j] = g[j][c];
    }
    float* are = acc_re + c * kLanes;
    float* aim = acc_im + c * kLanes;
#pragma GCC unroll 1
    for (std::size_t j = 0; j < kLanes; ++j) {
      are[j] += gl[j] * r[j];
      aim[j] += gl[j] * i[j];
    }
#pragma GCC unroll 1
    for (std::size_t j = 0; j < kLanes; ++j) {
      const float re = r[j] * sr[j] - i[j] * si[j];
      i[j] = r[j] * si[j] + i[j] * sr[j];
      r[j] = re;
    }
  }
}
}  // namespace

// The lanes fill AVX2's registers where the CPU has it (one clone per ISA,
// chosen at load time; no FMA, so both clones round alike).
__attribute__((target_clones("avx2", "default"))) void DriftCorrection::subtract(
    std::complex<float>* data, std::size_t nrow, std::size_t nchan, std::size_t chan0,
    std::size_t ncorr, std::span<const std::size_t> parallel_hands, const double* uvw,
    const std::size_t* integration) const {
  const std::size_t nchan_all = freq_.size();
  if (chan0 + nchan > nchan_all) {
    throw InputError(fmt::format("drift correction: channels {}..{} beyond the {} known", chan0,
                                 chan0 + nchan - 1, nchan_all));
  }
  for (std::size_t p : parallel_hands) {
    if (p >= ncorr)
      throw InputError(fmt::format("drift correction: correlation {} of {}", p, ncorr));
  }
  for (std::size_t r = 0; r < nrow; ++r) {
    if (integration[r] >= nint_) {
      throw InputError(
          fmt::format("drift correction: integration {} of {}", integration[r], nint_));
    }
  }
  if (l_.empty() || nchan == 0) return;
  const double* f = freq_.data() + chan0;
  // Segments of channels: a run of one channel spacing (a new run wherever
  // the spacing changes) cut every kReseedChannels. A run's first segment
  // starts from the exact phasor; the next ones from a double-precision
  // phasor advanced by step^kReseedChannels; within a segment the lanes
  // rotate in single precision, which drifts by < 2e-6 rad by its end.
  struct Segment {
    std::size_t c0, c1;
    bool run_start;
    double df;
  };
  std::vector<Segment> segments;
  for (std::size_t c = 0; c < nchan;) {
    // Channels c .. e - 1 share the spacing df.
    const double df = c + 1 < nchan ? f[c + 1] - f[c] : 0.0;
    std::size_t e = c + 1;
    while (e < nchan && std::abs((f[e] - f[e - 1]) - df) <= 1e-9 * std::abs(df)) ++e;
    for (std::size_t s = c; s < e; s += kReseedChannels)
      segments.push_back({s, std::min(e, s + kReseedChannels), s == c, df});
    c = e;
  }
  constexpr double kTwoPiOverC = 2 * M_PI / kSpeedOfLight;
  std::vector<float> acc_re(kLanes * nchan), acc_im(kLanes * nchan);  // [chan][lane]
  for (std::size_t r0 = 0; r0 < nrow; r0 += kLanes) {
    const std::size_t nl = std::min(kLanes, nrow - r0);
    std::fill(acc_re.begin(), acc_re.end(), 0.0f);
    std::fill(acc_im.begin(), acc_im.end(), 0.0f);
    std::size_t lane_row[kLanes];
    bool one_integration = true;
#pragma GCC unroll 1
    for (std::size_t j = 0; j < kLanes; ++j) {
      lane_row[j] = r0 + std::min(j, nl - 1);  // spare lanes repeat the last row, unused
      one_integration = one_integration && integration[lane_row[j]] == integration[r0];
    }
    for (std::size_t s = 0; s < l_.size(); ++s) {
      double rate[kLanes];
      std::complex<double> z[kLanes], step_k[kLanes];
      float zr[kLanes], zi[kLanes], sr[kLanes], si[kLanes];
      const float* g[kLanes];
#pragma GCC unroll 1
      for (std::size_t j = 0; j < kLanes; ++j) {
        const std::size_t r = lane_row[j];
        rate[j] =
            kTwoPiOverC * (uvw[3 * r] * l_[s] + uvw[3 * r + 1] * m_[s] + uvw[3 * r + 2] * nm1_[s]);
        g[j] = gain_.data() + (s * nint_ + integration[r]) * nchan_all + chan0;
      }
      for (const auto& seg : segments) {
        if (seg.run_start) {
#pragma GCC unroll 1
          for (std::size_t j = 0; j < kLanes; ++j) {
            z[j] = std::polar(1.0, rate[j] * f[seg.c0]);
            const std::complex<double> step = std::polar(1.0, rate[j] * seg.df);
            sr[j] = static_cast<float>(step.real());
            si[j] = static_cast<float>(step.imag());
            std::complex<double> p = step;  // step^kReseedChannels by squaring
            for (std::size_t k = 1; k < kReseedChannels; k *= 2) p *= p;
            step_k[j] = p;
          }
        } else {
#pragma GCC unroll 1
          for (std::size_t j = 0; j < kLanes; ++j) z[j] *= step_k[j];
        }
#pragma GCC unroll 1
        for (std::size_t j = 0; j < kLanes; ++j) {
          zr[j] = static_cast<float>(z[j].real());
          zi[j] = static_cast<float>(z[j].imag());
        }
        if (one_integration)
          rotate_and_add<true>(seg.c0, seg.c1, zr, zi, sr, si, g, acc_re.data(), acc_im.data());
        else
          rotate_and_add<false>(seg.c0, seg.c1, zr, zi, sr, si, g, acc_re.data(), acc_im.data());
      }
    }
    for (std::size_t j = 0; j < nl; ++j) {
      std::complex<float>* row = data + (r0 + j) * nchan * ncorr;
      for (std::size_t c = 0; c < nchan; ++c) {
        const std::complex<float> d(acc_re[c * kLanes + j], acc_im[c * kLanes + j]);
        for (std::size_t p : parallel_hands) row[c * ncorr + p] -= d;
      }
    }
  }
}

std::vector<ModelPixel> brightest_model_pixels(std::span<const float> pixels, long nx,
                                               double min_abs_jy, std::size_t max_components) {
  if (nx <= 0 || pixels.size() % static_cast<std::size_t>(nx) != 0) {
    throw InputError(fmt::format("model image: {} pixels are not rows of {}", pixels.size(), nx));
  }
  std::vector<ModelPixel> out;
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    const double v = pixels[i];
    if (std::isfinite(v) && v != 0 && std::abs(v) >= min_abs_jy) {
      out.push_back({static_cast<long>(i % static_cast<std::size_t>(nx)),
                     static_cast<long>(i / static_cast<std::size_t>(nx)), v});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const ModelPixel& a, const ModelPixel& b) {
    return std::abs(a.flux_jy) > std::abs(b.flux_jy);
  });
  if (out.size() > max_components) out.resize(max_components);
  return out;
}

}  // namespace contimg::imaging
