#include "calibration/calibrate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <numeric>

#include <fmt/format.h>

#include "calibration/model_qa.h"
#include "calibration/predict.h"
#include "common/error.h"
#include "common/parallel.h"
#include "sky/primary_beam.h"

namespace contimg::calibration {
namespace {

// Fixed baseline list: every pair a1 < a2 of the MS's antennas, so sums of
// all SPWs share one indexing.
struct BaselineIndex {
  int nant;
  std::vector<Baseline> list;
  std::vector<int> lookup;  // a1 * nant + a2 -> index (a1 < a2)
  explicit BaselineIndex(int n) : nant(n), lookup(static_cast<std::size_t>(n) * n, -1) {
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        lookup[static_cast<std::size_t>(p) * n + q] = static_cast<int>(list.size());
        list.push_back({p, q});
      }
    }
  }
};

// The solve's sums over the data, and what one SPW adds to them. SPWs are
// solved on the workers of parallel_ordered and each SPW's sums are added
// to the total in SPW order, so the result does not depend on the thread
// count or on which SPW finishes first.
struct SolveSums {
  std::vector<BaselineSums> gains;  // [slot][pol][baseline], bandpass divided out
  std::vector<double> slot_time_sum, slot_count, unflagged, field_power;
  std::vector<int> slot_field;  // the first field seen in each slot
  double total_model = 0;
  ModelQaAccumulator model_qa;

  SolveSums(std::size_t nslots, std::size_t npol, std::size_t nbl, std::size_t nant,
            std::size_t nfield, int nspw, std::vector<std::string> source_names, bool rest_term)
      : gains(nslots * npol * nbl),
        slot_time_sum(nslots, 0.0),
        slot_count(nslots, 0.0),
        unflagged(nant, 0.0),
        field_power(nfield, 0.0),
        slot_field(nslots, -1),
        model_qa(static_cast<int>(nant), nspw, std::move(source_names), rest_term) {}

  SolveSums& operator+=(const SolveSums& o) {
    for (std::size_t k = 0; k < gains.size(); ++k) gains[k] += o.gains[k];
    for (std::size_t t = 0; t < slot_count.size(); ++t) {
      slot_time_sum[t] += o.slot_time_sum[t];
      slot_count[t] += o.slot_count[t];
      if (slot_field[t] < 0) slot_field[t] = o.slot_field[t];
    }
    for (std::size_t a = 0; a < unflagged.size(); ++a) unflagged[a] += o.unflagged[a];
    for (std::size_t f = 0; f < field_power.size(); ++f) field_power[f] += o.field_power[f];
    total_model += o.total_model;
    model_qa.merge(o.model_qa);
    return *this;
  }
};

}  // namespace

std::vector<int> reference_priority(const MsMeta& meta, std::span<const double> unflagged,
                                    const std::string& requested) {
  const int nant = meta.nant();
  if (!requested.empty()) {
    for (int a = 0; a < nant; ++a) {
      if (meta.antenna_names[static_cast<std::size_t>(a)] == requested) return {a};
    }
    char* end = nullptr;
    const long v = std::strtol(requested.c_str(), &end, 10);
    if (end && *end == '\0' && v >= 0 && v < nant) return {static_cast<int>(v)};
    throw ConfigError(fmt::format("{}: --refant {}: no such antenna (give a NAME or an index 0..{})",
                                  meta.path.string(), requested, nant - 1));
  }
  std::array<double, 3> centre{};
  for (int k = 0; k < 3; ++k) {
    std::vector<double> c;
    for (const auto& p : meta.antenna_positions) c.push_back(p[static_cast<std::size_t>(k)]);
    if (c.empty()) break;
    std::nth_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(c.size() / 2), c.end());
    centre[static_cast<std::size_t>(k)] = c[c.size() / 2];
  }
  std::vector<int> out, outriggers, core;
  for (int a = 0; a < nant; ++a) {
    if (static_cast<std::size_t>(a) >= unflagged.size() || unflagged[static_cast<std::size_t>(a)] <= 0) continue;
    const auto& p = meta.antenna_positions[static_cast<std::size_t>(a)];
    const double d = std::hypot(p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]);
    (d > kOutriggerMinDistanceM ? outriggers : core).push_back(a);
  }
  auto by_data = [&](int x, int y) {
    const auto ux = unflagged[static_cast<std::size_t>(x)], uy = unflagged[static_cast<std::size_t>(y)];
    return ux != uy ? ux > uy : x < y;
  };
  std::sort(outriggers.begin(), outriggers.end(), by_data);
  std::sort(core.begin(), core.end(), by_data);
  out = outriggers;
  out.insert(out.end(), core.begin(), core.end());
  return out;
}

std::vector<std::complex<float>> predict_block(const MsMeta& meta, const VisBlock& b,
                                               std::span<const sky::Source> sources) {
  std::vector<std::complex<float>> model(b.nrows * b.nchan);
  predict_rows(meta, b, 0, b.nrows, sources, model);
  return model;
}

void predict_rows(const MsMeta& meta, const VisBlock& b, std::size_t row0, std::size_t nrows,
                  std::span<const sky::Source> sources, std::span<std::complex<float>> out) {
  if (row0 + nrows > b.nrows || out.size() < nrows * b.nchan)
    throw InputError("predict_rows: rows outside the block or output too small");
  const auto& freqs = meta.chan_freq.at(static_cast<std::size_t>(b.spw));
  const std::size_t end = row0 + nrows;
  for (std::size_t r = row0; r < end;) {
    std::size_t e = r + 1;
    while (e < end && b.field[e] == b.field[r]) ++e;
    const auto f = static_cast<std::size_t>(b.field[r]);
    if (f >= meta.field_dir.size()) {
      throw InputError(fmt::format("{}: FIELD_ID {} outside the FIELD table", meta.path.string(), b.field[r]));
    }
    add_point_sources(sources, meta.field_dir[f], freqs,
                      std::span<const double>(b.uvw).subspan(r * 3, (e - r) * 3), e - r,
                      out.subspan((r - row0) * b.nchan, (e - r) * b.nchan));
    r = e;
  }
}

CalSolution calibrate(const MsMeta& meta, const std::function<bool(int)>& has_rows,
                      const std::function<VisBlock(int)>& read, std::span<const sky::Source> sources,
                      const CalibrateOptions& opt) {
  const int nant = meta.nant();
  const int npol = meta.npol;
  const auto na = static_cast<std::size_t>(nant);
  const auto np = static_cast<std::size_t>(npol);
  if (nant < 2 || npol < 1) throw InputError(meta.path.string() + ": fewer than 2 antennas or no correlations");
  const BaselineIndex bi(nant);
  const std::size_t nbl = bi.list.size();

  const double sol = std::max({opt.gain_interval_s, meta.interval, 1e-3});
  const auto nslots = static_cast<std::size_t>(std::floor((meta.time_last - meta.time_first) / sol + 1e-3)) + 1;
  // The per-source check (model_qa.h) fits the brightest kMaxSourcesChecked
  // model sources apart and the rest of the model as one more term (its
  // cost grows with the square of the terms: 22 sources apart made a full
  // group's solve ~40 % slower). A one-source model has nothing to check:
  // its fraction is 1 by construction (the gains scale it).
  std::vector<std::size_t> checked;
  bool check_rest = false;
  std::vector<std::string> source_names;
  if (sources.size() >= 2 && !meta.field_dir.empty() && !meta.chan_freq.empty() &&
      !meta.chan_freq.front().empty()) {
    const auto& mid = meta.field_dir[meta.field_dir.size() / 2];
    const double f0 = meta.chan_freq.front().front();
    std::vector<std::pair<double, std::size_t>> apparent;
    for (std::size_t s = 0; s < sources.size(); ++s) {
      const auto& src = sources[s];
      const double theta = sky::angular_distance(mid.ra_rad, mid.dec_rad, src.ra_rad, src.dec_rad);
      apparent.emplace_back(src.flux_at(f0) * sky::airy_power(theta, f0), s);
    }
    std::stable_sort(apparent.begin(), apparent.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = 0; i < apparent.size() && i < kMaxSourcesChecked; ++i)
      checked.push_back(apparent[i].second);
    std::sort(checked.begin(), checked.end());  // reported in the model's order
    check_rest = checked.size() < sources.size();
    for (std::size_t s : checked) source_names.push_back(sources[s].name);
  }
  const auto new_sums = [&] {
    return SolveSums(nslots, np, nbl, na, meta.field_dir.size(), meta.nspw(), source_names,
                     check_rest);
  };
  SolveSums total = new_sums();

  CalSolution out;
  auto& bp = out.bandpass;
  bp.nant = nant;
  bp.npol = npol;
  bp.freqs = meta.chan_freq;
  bp.gain.resize(meta.chan_freq.size());
  bp.flag.resize(meta.chan_freq.size());
  bp.snr.resize(meta.chan_freq.size());
  bp.time = 0.5 * (meta.time_first + meta.time_last);
  bp.interval = meta.time_last - meta.time_first + meta.interval;

  const std::vector<int> provisional;  // bandpass cells are re-referenced at the end
  std::mutex read_mutex;  // the reader (a casacore table) is not thread-safe
  auto solve_spw = [&](int spw, SolveSums& acc) {
    if (opt.check_interrupt) opt.check_interrupt();
    const std::size_t nchan = meta.chan_freq[static_cast<std::size_t>(spw)].size();
    auto& g = bp.gain[static_cast<std::size_t>(spw)];
    auto& fl = bp.flag[static_cast<std::size_t>(spw)];
    auto& snr = bp.snr[static_cast<std::size_t>(spw)];
    g.assign(na * np * nchan, {1.0f, 0.0f});
    fl.assign(na * np * nchan, 1);
    snr.assign(na * np * nchan, 0.0f);
    VisBlock b;
    {
      const std::lock_guard<std::mutex> lock(read_mutex);
      if (!has_rows(spw)) return;
      b = read(spw);
    }
    const auto model = predict_block(meta, b, sources);
    const std::size_t cell = nchan * np;
    auto& unflagged = acc.unflagged;
    auto& field_power = acc.field_power;
    auto& gsums = acc.gains;
    // [baseline][channel][correlation]: a row adds to contiguous sums (the
    // [channel][correlation][baseline] order missed the cache on every add:
    // a third of the solve); each cell's baselines are gathered for the solver.
    std::vector<BaselineSums> sums(nbl * nchan * np);
    for (std::size_t r = 0; r < b.nrows; ++r) {
      int a1 = b.ant1[r], a2 = b.ant2[r];
      if (a1 == a2 || a1 < 0 || a2 < 0 || a1 >= nant || a2 >= nant) continue;
      const bool swap = a1 > a2;
      if (swap) std::swap(a1, a2);
      const auto k = static_cast<std::size_t>(bi.lookup[static_cast<std::size_t>(a1) * na + static_cast<std::size_t>(a2)]);
      for (std::size_t c = 0; c < nchan; ++c) {
        const std::complex<double> m = model[r * nchan + c];
        const auto fidx = static_cast<std::size_t>(b.field[r]);
        for (std::size_t p = 0; p < np; ++p) {
          const auto i = r * cell + c * np + p;
          const double w = b.weight[i];
          const std::complex<double> v = b.data[i];
          if (b.flag[i] || !(w > 0) || !std::isfinite(v.real()) || !std::isfinite(v.imag()))
            continue;
          sums[(k * nchan + c) * np + p].add(swap ? std::conj(v) : v, swap ? std::conj(m) : m, w);
          unflagged[static_cast<std::size_t>(a1)] += 1;
          unflagged[static_cast<std::size_t>(a2)] += 1;
          if (fidx < field_power.size()) field_power[fidx] += w * std::norm(m);
          acc.total_model += w * std::norm(m);
        }
      }
    }
    std::vector<BaselineSums> cell_sums(nbl);
    for (std::size_t c = 0; c < nchan; ++c) {
      for (std::size_t p = 0; p < np; ++p) {
        for (std::size_t k = 0; k < nbl; ++k) cell_sums[k] = sums[(k * nchan + c) * np + p];
        const auto res = solve_gains(nant, bi.list, cell_sums, opt.stefcal, provisional);
        for (std::size_t a = 0; a < na; ++a) {
          const auto i = (a * np + p) * nchan + c;
          const bool bad = res.flagged[a] || res.snr[a] < opt.min_snr;
          g[i] = std::complex<float>(res.gain[a]);
          fl[i] = bad ? 1 : 0;
          snr[i] = static_cast<float>(res.snr[a]);
        }
      }
    }
    sums = {};
    // While the block is in memory: residuals of the fitted model (issue 16).
    acc.model_qa.add_block(b, model, bp);
    // The per-source check (model_qa.h) when the model has several sources
    // (one source's fraction is 1 by construction: the gains scale it). Each
    // source's own model, a few hundred rows at a time (not a block per source
    // in memory), on every kSourceCheckStride-th integration: the fractions'
    // noise stays far below what the gate needs (~1e-4 on a full group,
    // against 0.1) at a quarter of the cost.
    if (!checked.empty()) {
      constexpr std::size_t kRows = 256;
      constexpr long kSourceCheckStride = 4;
      std::vector<std::vector<std::complex<float>>> per_source(checked.size() +
                                                               (check_rest ? 1 : 0));
      for (std::size_t r = 0; r < b.nrows;) {
        std::size_t e = r + 1;
        while (e < b.nrows && b.time[e] == b.time[r]) ++e;
        const auto slot =
            std::lround((b.time[r] - meta.time_first) / std::max(meta.interval, 1e-3));
        for (std::size_t r0 = r; slot % kSourceCheckStride == 0 && r0 < e; r0 += kRows) {
          const std::size_t n = std::min(kRows, e - r0);
          for (std::size_t i = 0; i < checked.size(); ++i) {
            per_source[i].assign(n * nchan, {});
            predict_rows(meta, b, r0, n, sources.subspan(checked[i], 1), per_source[i]);
          }
          if (check_rest) {  // the whole model less the sources fitted apart
            auto& rest = per_source.back();
            rest.assign(model.begin() + static_cast<std::ptrdiff_t>(r0 * nchan),
                        model.begin() + static_cast<std::ptrdiff_t>((r0 + n) * nchan));
            for (std::size_t i = 0; i < checked.size(); ++i)
              for (std::size_t k = 0; k < rest.size(); ++k) rest[k] -= per_source[i][k];
          }
          acc.model_qa.add_source_models(b, r0, n, per_source, bp);
        }
        r = e;
      }
    }

    // Divide the bandpass out and accumulate the gain sums over channels;
    // the weight carries |B_1 B_2|^2 (the variance of V / (B_1 B_2*)).
    for (std::size_t r = 0; r < b.nrows; ++r) {
      int a1 = b.ant1[r], a2 = b.ant2[r];
      if (a1 == a2 || a1 < 0 || a2 < 0 || a1 >= nant || a2 >= nant) continue;
      const auto slot = std::min(nslots - 1, static_cast<std::size_t>(std::max(0.0, std::floor((b.time[r] - meta.time_first) / sol + 1e-3))));
      acc.slot_time_sum[slot] += b.time[r];
      acc.slot_count[slot] += 1;
      if (acc.slot_field[slot] < 0) acc.slot_field[slot] = b.field[r];
      const bool swap = a1 > a2;
      if (swap) std::swap(a1, a2);
      const auto k = static_cast<std::size_t>(bi.lookup[static_cast<std::size_t>(a1) * na + static_cast<std::size_t>(a2)]);
      for (std::size_t p = 0; p < np; ++p) {
        auto& s = gsums[(slot * np + p) * nbl + k];
        for (std::size_t c = 0; c < nchan; ++c) {
          const auto i = r * cell + c * np + p;
          const auto i1 = (static_cast<std::size_t>(a1) * np + p) * nchan + c;
          const auto i2 = (static_cast<std::size_t>(a2) * np + p) * nchan + c;
          const double w = b.weight[i];
          if (b.flag[i] || !(w > 0) || fl[i1] || fl[i2]) continue;
          std::complex<double> v = b.data[i];
          std::complex<double> m = model[r * nchan + c];
          if (!std::isfinite(v.real()) || !std::isfinite(v.imag())) continue;
          if (swap) {
            v = std::conj(v);
            m = std::conj(m);
          }
          const std::complex<double> bb = std::complex<double>(g[i1]) * std::conj(std::complex<double>(g[i2]));
          // V / bb as V conj(bb) / |bb|^2: std::complex division is a libgcc call
          // (__divdc3, 13 % of the solve); |bb| > 0 as neither gain is flagged.
          s.add(v * std::conj(bb) / std::norm(bb), m, w * std::norm(bb));
        }
      }
    }
  };

  parallel_ordered(
      static_cast<std::size_t>(meta.nspw()), opt.threads,
      [&](std::size_t spw) {
        SolveSums acc = new_sums();
        solve_spw(static_cast<int>(spw), acc);
        return acc;
      },
      [&](std::size_t, SolveSums&& acc) { total += acc; });
  const auto& gsums = total.gains;
  const auto& slot_time_sum = total.slot_time_sum;
  const auto& slot_count = total.slot_count;
  const auto& slot_field = total.slot_field;
  const auto& unflagged = total.unflagged;
  const auto& field_power = total.field_power;
  const double total_model = total.total_model;
  if (total_model <= 0) {
    throw InputError(fmt::format("{}: no unflagged cross-correlation with a non-zero model: nothing to solve "
                                 "(all data flagged, or the model is outside the beam)", meta.path.string()));
  }
  out.model_qa = total.model_qa.figures();
  out.antenna_has_data.resize(na);
  for (std::size_t a = 0; a < na; ++a) out.antenna_has_data[a] = unflagged[a] > 0 ? 1 : 0;
  const auto priority = reference_priority(meta, unflagged, opt.refant);
  out.refant = priority.empty() ? -1 : priority.front();
  bp.field = static_cast<int>(std::max_element(field_power.begin(), field_power.end()) - field_power.begin());

  // Re-reference every bandpass cell to the chosen reference (a common phase
  // per cell does not change the fit).
  for (int spw = 0; spw < meta.nspw(); ++spw) {
    const std::size_t nchan = bp.freqs[static_cast<std::size_t>(spw)].size();
    auto& g = bp.gain[static_cast<std::size_t>(spw)];
    const auto& fl = bp.flag[static_cast<std::size_t>(spw)];
    for (std::size_t c = 0; c < nchan; ++c) {
      for (std::size_t p = 0; p < np; ++p) {
        for (int ref : priority) {
          const auto ir = (static_cast<std::size_t>(ref) * np + p) * nchan + c;
          if (fl[ir] || std::abs(g[ir]) == 0) continue;
          const auto rot = std::conj(g[ir]) / std::abs(g[ir]);
          for (std::size_t a = 0; a < na; ++a) g[(a * np + p) * nchan + c] *= rot;
          break;
        }
      }
    }
  }

  auto& gs = out.gains;
  gs.nant = nant;
  gs.npol = npol;
  gs.interval = sol;
  for (std::size_t t = 0; t < nslots; ++t) {
    if (slot_count[t] == 0) continue;
    if (opt.check_interrupt) opt.check_interrupt();
    gs.time.push_back(slot_time_sum[t] / slot_count[t]);
    gs.field.push_back(slot_field[t]);
    for (std::size_t p = 0; p < np; ++p) {
      const auto res = solve_gains(nant, bi.list, std::span<const BaselineSums>(gsums).subspan((t * np + p) * nbl, nbl),
                                   opt.stefcal, priority);
      for (std::size_t a = 0; a < na; ++a) {
        gs.gain.resize(gs.time.size() * na * np);
        gs.flag.resize(gs.gain.size());
        gs.snr.resize(gs.gain.size());
        const auto i = gs.index(gs.time.size() - 1, static_cast<int>(a), static_cast<int>(p));
        gs.gain[i] = std::complex<float>(res.gain[a]);
        gs.flag[i] = (res.flagged[a] || res.snr[a] < opt.min_snr) ? 1 : 0;
        gs.snr[i] = static_cast<float>(res.snr[a]);
      }
    }
  }
  return out;
}

}  // namespace contimg::calibration
