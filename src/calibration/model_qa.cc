#include "calibration/model_qa.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::calibration {
namespace {

using cd = std::complex<double>;

// A cell's own noise estimate needs this many XX-YY pairs; else the global one.
constexpr double kMinNoiseSamples = 20;

bool usable(const VisBlock& b, std::size_t i) {
  const double w = b.weight[i];
  return !b.flag[i] && w > 0 && std::isfinite(b.data[i].real()) && std::isfinite(b.data[i].imag());
}

// One SPW's bandpass, for the samples of a block.
struct SpwBandpass {
  const std::vector<std::complex<float>>& g;
  const std::vector<std::uint8_t>& fl;
  std::size_t np, nchan;
  // B_p conj(B_q) of sample i (row of antennas a1, a2; channel c; pol p) when
  // the sample and both solutions are usable.
  std::optional<cd> product(const VisBlock& b, std::size_t i, int a1, int a2, std::size_t c,
                            std::size_t p) const {
    const auto i1 = (static_cast<std::size_t>(a1) * np + p) * nchan + c;
    const auto i2 = (static_cast<std::size_t>(a2) * np + p) * nchan + c;
    if (!usable(b, i) || fl[i1] || fl[i2]) return std::nullopt;
    return cd(g[i1]) * std::conj(cd(g[i2]));
  }
};

struct Totals {
  double resid = 0, power = 0, expected = 0, noise_power = 0;
};

}  // namespace

ModelQaAccumulator::ModelQaAccumulator(int nant, int nspw, std::vector<std::string> source_names,
                                       bool rest_term)
    : nant_(nant),
      nspw_(nspw),
      cells_(static_cast<std::size_t>(nant) * static_cast<std::size_t>(nspw)),
      sources_(std::move(source_names)),
      nterms_(sources_.size() + (rest_term && !sources_.empty() ? 1 : 0)),
      normal_(nterms_ * nterms_, 0.0),
      rhs_(nterms_, 0.0) {}

void ModelQaAccumulator::add_source_models(const VisBlock& b, std::size_t row0, std::size_t nrows,
                                           std::span<const std::vector<std::complex<float>>> models,
                                           const BandpassSolution& bp) {
  const std::size_t ns = nterms_;
  if (models.size() != ns) throw InputError("model QA: one model per fitted term expected");
  if (b.spw < 0 || b.spw >= nspw_)
    throw InputError(fmt::format("model QA: SPW {} outside 0..{}", b.spw, nspw_ - 1));
  if (row0 + nrows > b.nrows) throw InputError("model QA: rows outside the block");
  const std::size_t nchan = b.nchan, np = b.npol;
  for (const auto& m : models) {
    if (m.size() < nrows * nchan) throw InputError("model QA: source model smaller than the rows");
  }
  const auto spw = static_cast<std::size_t>(b.spw);
  const SpwBandpass bandpass{bp.gain.at(spw), bp.flag.at(spw), np, nchan};
  std::vector<cd> m(ns);
  for (std::size_t k = 0; k < nrows; ++k) {
    const std::size_t r = row0 + k;
    const int a1 = b.ant1[r], a2 = b.ant2[r];
    if (a1 == a2 || a1 < 0 || a2 < 0 || a1 >= nant_ || a2 >= nant_) continue;
    for (std::size_t c = 0; c < nchan; ++c) {
      // The polarizations' calibrated data combined first (Stokes I model):
      // U = sum_p W_p u_p with weight Wt = sum_p W_p, which keeps cov(a) =
      // s^2/2 A^-1 and halves the products below.
      cd wu = 0;
      double wt = 0;
      for (std::size_t p = 0; p < np; ++p) {
        const auto i = (r * nchan + c) * np + p;
        const auto product = bandpass.product(b, i, a1, a2, c, p);
        if (!product) continue;
        const cd bb = *product;
        const double nb = std::norm(bb);
        if (!(nb > 0)) continue;
        // W u = w |bb|^2 V conj(bb) / |bb|^2 = w V conj(bb): no division.
        wu += static_cast<double>(b.weight[i]) * cd(b.data[i]) * std::conj(bb);
        wt += b.weight[i] * nb;
      }
      if (!(wt > 0)) continue;
      for (std::size_t s = 0; s < ns; ++s) m[s] = models[s][k * nchan + c];
      for (std::size_t s = 0; s < ns; ++s) {
        const cd ms = std::conj(m[s]);
        rhs_[s] += (ms * wu).real();
        for (std::size_t t = s; t < ns; ++t) normal_[s * ns + t] += wt * (ms * m[t]).real();
      }
    }
  }
}

std::vector<SourceFraction> solve_source_fractions(const std::vector<std::string>& names,
                                                   const std::vector<double>& normal,
                                                   const std::vector<double>& rhs, double s2) {
  const std::size_t n = rhs.size();
  if (normal.size() != n * n || names.size() > n)
    throw InputError("source fractions: sizes differ");
  // The terms with model power in the data; A symmetric (upper triangle kept).
  std::vector<std::size_t> idx;
  for (std::size_t s = 0; s < n; ++s) {
    if (normal[s * n + s] > 0) idx.push_back(s);
  }
  const std::size_t k = idx.size();
  auto at = [&](std::size_t i, std::size_t j) {
    const std::size_t a = std::min(idx[i], idx[j]), b = std::max(idx[i], idx[j]);
    return normal[a * n + b];
  };
  // Cholesky of the scaled matrix D^-1/2 A D^-1/2 (unit diagonal): a pivot
  // below 1e-9 means two sources the data cannot tell apart.
  std::vector<double> d(k), l(k * k, 0.0);
  for (std::size_t i = 0; i < k; ++i) d[i] = std::sqrt(at(i, i));
  for (std::size_t j = 0; j < k; ++j) {
    double diag = 1.0;
    for (std::size_t p = 0; p < j; ++p) diag -= l[j * k + p] * l[j * k + p];
    if (!(diag > 1e-9)) return {};
    l[j * k + j] = std::sqrt(diag);
    for (std::size_t i = j + 1; i < k; ++i) {
      double v = at(i, j) / (d[i] * d[j]);
      for (std::size_t p = 0; p < j; ++p) v -= l[i * k + p] * l[j * k + p];
      l[i * k + j] = v / l[j * k + j];
    }
  }
  // Solves (L L^T) x = b in place.
  auto solve = [&](std::vector<double> x) {
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t p = 0; p < i; ++p) x[i] -= l[i * k + p] * x[p];
      x[i] /= l[i * k + i];
    }
    for (std::size_t i = k; i-- > 0;) {
      for (std::size_t p = i + 1; p < k; ++p) x[i] -= l[p * k + i] * x[p];
      x[i] /= l[i * k + i];
    }
    return x;
  };
  std::vector<double> b(k);
  for (std::size_t i = 0; i < k; ++i) b[i] = rhs[idx[i]] / d[i];
  const auto x = solve(b);
  std::vector<SourceFraction> out;
  for (std::size_t i = 0; i < k; ++i) {
    if (idx[i] >= names.size()) continue;  // a term fitted, not reported
    std::vector<double> e(k, 0.0);
    e[i] = 1.0;
    const double inv_ii = solve(e)[i] / (d[i] * d[i]);  // (A^-1)_ii
    out.push_back({names[idx[i]], x[i] / d[i], s2 > 0 ? std::sqrt(0.5 * s2 * inv_ii) : 0.0});
  }
  return out;
}

void ModelQaAccumulator::add_block(const VisBlock& b, std::span<const std::complex<float>> model,
                                   const BandpassSolution& bp) {
  if (b.spw < 0 || b.spw >= nspw_)
    throw InputError(fmt::format("model QA: SPW {} outside 0..{}", b.spw, nspw_ - 1));
  if (model.size() < b.nrows * b.nchan)
    throw InputError("model QA: model buffer smaller than the block");
  const auto spw = static_cast<std::size_t>(b.spw);
  const auto& fl = bp.flag.at(spw);
  const std::size_t nchan = b.nchan, np = b.npol;
  const SpwBandpass bandpass{bp.gain.at(spw), fl, np, nchan};
  for (std::size_t k = 0; k < fl.size(); ++k) params_ += fl[k] ? 0 : 1;
  for (std::size_t r = 0; r < b.nrows; ++r) {
    const int a1 = b.ant1[r], a2 = b.ant2[r];
    if (a1 == a2 || a1 < 0 || a2 < 0 || a1 >= nant_ || a2 >= nant_) continue;
    auto& c1 = cells_[static_cast<std::size_t>(a1) * static_cast<std::size_t>(nspw_) + spw];
    auto& c2 = cells_[static_cast<std::size_t>(a2) * static_cast<std::size_t>(nspw_) + spw];
    for (std::size_t c = 0; c < nchan; ++c) {
      const cd m = model[r * nchan + c];
      cd u[2];
      double var[2] = {0, 0};
      bool ok[2] = {false, false};
      for (std::size_t p = 0; p < np; ++p) {
        const auto i = (r * nchan + c) * np + p;
        const auto product = bandpass.product(b, i, a1, a2, c, p);
        if (!product) continue;
        const cd bb = *product;
        const cd v = b.data[i];
        const double w = b.weight[i];
        const double rr = w * std::norm(v - bb * m), vv = w * std::norm(v);
        for (auto* cell : {&c1, &c2}) {
          cell->resid += rr;
          cell->power += vv;
          cell->samples += 1;
        }
        samples_ += 1;
        const std::size_t slot = p == 0 ? 0 : (p == np - 1 ? 1 : 2);
        if (slot < 2 && std::norm(bb) > 0) {
          u[slot] = v * std::conj(bb) / std::norm(bb);  // not v / bb: a libgcc call (__divdc3)
          var[slot] = 1.0 / (w * std::norm(bb));
          ok[slot] = true;
        }
      }
      if (np >= 2 && ok[0] && ok[1]) {
        const double d2 = std::norm(u[0] - u[1]) / (var[0] + var[1]);
        for (auto* cell : {&c1, &c2}) {
          cell->noise += d2;
          cell->noise_samples += 1;
        }
      }
    }
  }
}

void ModelQaAccumulator::merge(const ModelQaAccumulator& o) {
  if (o.nant_ != nant_ || o.nspw_ != nspw_)
    throw InputError("model QA: merging accumulators of different shapes");
  for (std::size_t i = 0; i < cells_.size(); ++i) {
    auto& c = cells_[i];
    const auto& x = o.cells_[i];
    c.resid += x.resid;
    c.power += x.power;
    c.samples += x.samples;
    c.noise += x.noise;
    c.noise_samples += x.noise_samples;
  }
  params_ += o.params_;
  samples_ += o.samples_;
  if (o.sources_ != sources_ || o.nterms_ != nterms_)
    throw InputError("model QA: merging accumulators of different models");
  for (std::size_t i = 0; i < normal_.size(); ++i) normal_[i] += o.normal_[i];
  for (std::size_t i = 0; i < rhs_.size(); ++i) rhs_[i] += o.rhs_[i];
}

double reduced_chi2(const ModelQaCell& c, double s2, double dof) {
  const double e = c.samples * s2 * dof;
  return e > 0 ? c.resid / e : 0.0;
}

double signal_explained(const ModelQaCell& c, double s2, double dof) {
  const double signal = c.power - c.samples * s2;
  if (!(signal > 0)) return 0.0;
  return 1.0 - (c.resid - c.samples * s2 * dof) / signal;
}

ModelQaFigures ModelQaAccumulator::figures() const {
  ModelQaFigures f;
  f.nant = nant_;
  f.nspw = nspw_;
  double noise = 0, noise_n = 0;
  for (const auto& c : cells_) {
    noise += c.noise;
    noise_n += c.noise_samples;
  }
  f.noise_known = noise_n > 0;
  f.noise_var = f.noise_known ? noise / noise_n : 0.0;
  f.dof_fraction = samples_ > 0 ? std::max(0.0, 1.0 - params_ / samples_) : 1.0;
  // Each cell is judged against its own noise (antennas and SPWs differ in
  // system temperature and gain) when it has enough XX-YY pairs.
  auto s2_of = [&](const ModelQaCell& c) {
    return c.noise_samples >= kMinNoiseSamples ? c.noise / c.noise_samples : f.noise_var;
  };
  std::vector<Totals> ant(static_cast<std::size_t>(nant_)), spw(static_cast<std::size_t>(nspw_));
  Totals all;
  for (int a = 0; a < nant_; ++a) {
    for (int s = 0; s < nspw_; ++s) {
      const auto& c = cells_[static_cast<std::size_t>(a) * static_cast<std::size_t>(nspw_) +
                             static_cast<std::size_t>(s)];
      if (c.samples <= 0) continue;
      const double s2 = s2_of(c);
      for (auto* t : {&ant[static_cast<std::size_t>(a)], &spw[static_cast<std::size_t>(s)], &all}) {
        t->resid += c.resid;
        t->power += c.power;
        t->expected += c.samples * s2 * f.dof_fraction;
        t->noise_power += c.samples * s2;
      }
    }
  }
  auto chi2 = [&](const Totals& t) {
    return f.noise_known && t.expected > 0 ? t.resid / t.expected : 0.0;
  };
  auto expl = [&](const Totals& t) {
    const double signal = t.power - t.noise_power;
    return signal > 0 ? 1.0 - (t.resid - t.expected) / signal : 0.0;
  };
  f.reduced_chi2 = chi2(all);
  f.explained = all.power > 0 ? 1.0 - all.resid / all.power : 0.0;
  f.signal_explained = f.noise_known ? expl(all) : f.explained;
  f.signal_to_noise =
      f.noise_known && all.noise_power > 0 ? (all.power - all.noise_power) / all.noise_power : 0.0;
  for (const auto& t : ant) {
    f.antenna_chi2.push_back(chi2(t));
    f.antenna_signal_explained.push_back(
        f.noise_known ? expl(t) : (t.power > 0 ? 1.0 - t.resid / t.power : 0.0));
  }
  for (const auto& t : spw) f.spw_chi2.push_back(chi2(t));
  if (!sources_.empty()) {
    f.sources = solve_source_fractions(sources_, normal_, rhs_, f.noise_var);
  }
  return f;
}

void gate_model_qa(const ModelQaFigures& f, const ModelQaThresholds& t,
                   std::vector<std::string>& failures, std::vector<std::string>& warnings) {
  const bool measurable = !f.noise_known || f.signal_to_noise >= t.min_signal_to_noise;
  if (measurable && f.signal_explained < t.min_signal_explained) {
    failures.push_back(fmt::format(
        "the model explains {:.1f}% of the data's sky power (minimum {:.1f}%; reduced chi2 {:.2f}, "
        "raw explained "
        "fraction {:.3f}): the model is not what the data contain",
        100 * f.signal_explained, 100 * t.min_signal_explained, f.reduced_chi2, f.explained));
  }
  for (const auto& s : f.sources) {
    if (!(s.sigma > 0) || s.sigma > t.max_source_sigma || !(t.min_source_fraction > 0)) continue;
    if (s.fraction < t.min_source_fraction || s.fraction > 1 / t.min_source_fraction) {
      failures.push_back(
          fmt::format("model source {}: the calibrated data hold {:.2f} +- {:.2f} of its model "
                      "flux (allowed {:.2f} to "
                      "{:.2f}): the model {} (or its position or flux is wrong)",
                      s.name, s.fraction, s.sigma, t.min_source_fraction, 1 / t.min_source_fraction,
                      s.fraction < t.min_source_fraction ? "holds a source the data lack"
                                                         : "is far too faint for it"));
    }
  }
  if (!f.noise_known) {
    warnings.push_back("model QA: no XX/YY pair, the noise and reduced chi2 are unknown");
    return;
  }
  if (t.max_chi2 > 0 && f.reduced_chi2 > t.max_chi2) {
    failures.push_back(
        fmt::format("residual reduced chi2 {:.2f} (maximum {:.2f})", f.reduced_chi2, t.max_chi2));
  } else if (f.reduced_chi2 > t.warn_chi2) {
    int worst = 0;
    for (std::size_t a = 0; a < f.antenna_chi2.size(); ++a) {
      if (f.antenna_chi2[a] > f.antenna_chi2[static_cast<std::size_t>(worst)])
        worst = static_cast<int>(a);
    }
    warnings.push_back(fmt::format(
        "residual reduced chi2 {:.2f} (warning above {:.2f}; worst antenna index {} at {:.2f}): "
        "structure the model "
        "lacks (other sources in the field, or a model position or shape error)",
        f.reduced_chi2, t.warn_chi2, worst,
        f.antenna_chi2.empty() ? 0.0 : f.antenna_chi2[static_cast<std::size_t>(worst)]));
  }
}

nlohmann::json to_json(const ModelQaFigures& f) {
  return {{"noise_known", f.noise_known},
          {"noise_var_per_unit_weight", f.noise_var},
          {"dof_fraction", f.dof_fraction},
          {"reduced_chi2", f.reduced_chi2},
          {"explained_fraction", f.explained},
          {"signal_explained_fraction", f.signal_explained},
          {"signal_to_noise", f.signal_to_noise},
          {"antenna_chi2", f.antenna_chi2},
          {"spw_chi2", f.spw_chi2},
          {"antenna_signal_explained", f.antenna_signal_explained},
          {"sources", [&] {
             auto a = nlohmann::json::array();
             for (const auto& s : f.sources)
               a.push_back({{"name", s.name}, {"fraction", s.fraction}, {"sigma", s.sigma}});
             return a;
           }()}};
}

}  // namespace contimg::calibration
