#include "io/ms/ms_layout.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::ms {
namespace {

[[noreturn]] void bad(const std::string& what) { throw InputError("MS layout: " + what); }

bool finite3(const std::array<double, 3>& v) {
  return std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]);
}

}  // namespace

const char* to_string(DirectionFrame f) {
  return f == DirectionFrame::kIcrs ? "ICRS" : "J2000";
}

std::array<std::int32_t, 2> corr_product(std::int32_t corr_type) {
  switch (corr_type) {
    case kCorrRR:
    case kCorrXX:
      return {0, 0};
    case kCorrRL:
    case kCorrXY:
      return {0, 1};
    case kCorrLR:
    case kCorrYX:
      return {1, 0};
    case kCorrLL:
    case kCorrYY:
      return {1, 1};
    default:
      throw InputError(fmt::format(
          "MS layout: correlation type {} is not a receptor product (use 5..12: RR RL LR LL "
          "XX XY YX YY)",
          corr_type));
  }
}

void validate(const MsLayout& layout) {
  if (layout.antennas.empty()) bad("no antennas");
  for (std::size_t i = 0; i < layout.antennas.size(); ++i) {
    const AntennaInfo& a = layout.antennas[i];
    if (!finite3(a.itrf_m)) bad(fmt::format("antenna {} ('{}'): position is not finite", i, a.name));
    if (!(a.diameter_m > 0)) bad(fmt::format("antenna {} ('{}'): diameter {} m is not positive", i, a.name, a.diameter_m));
  }

  if (layout.spectral_windows.empty()) bad("no spectral windows");
  double previous_first = -INFINITY;
  for (std::size_t s = 0; s < layout.spectral_windows.size(); ++s) {
    const SpectralWindowInfo& w = layout.spectral_windows[s];
    const auto& f = w.chan_freq_hz;
    if (f.empty()) bad(fmt::format("spectral window {} ('{}') has no channels", s, w.name));
    if (w.chan_width_hz.size() != f.size()) {
      bad(fmt::format("spectral window {} ('{}'): {} channel widths for {} channels", s, w.name,
                      w.chan_width_hz.size(), f.size()));
    }
    for (std::size_t c = 0; c < f.size(); ++c) {
      if (!std::isfinite(f[c]) || !(f[c] > 0)) {
        bad(fmt::format("spectral window {} ('{}'): channel {} frequency {} Hz is not positive",
                        s, w.name, c, f[c]));
      }
      if (!std::isfinite(w.chan_width_hz[c]) || !(w.chan_width_hz[c] > 0)) {
        bad(fmt::format("spectral window {} ('{}'): channel {} width {} Hz is not positive "
                        "(channels must be ascending)",
                        s, w.name, c, w.chan_width_hz[c]));
      }
      if (c > 0 && !(f[c] > f[c - 1])) {
        bad(fmt::format("spectral window {} ('{}'): channel frequencies are not strictly "
                        "ascending at channel {} ({} Hz after {} Hz)",
                        s, w.name, c, f[c], f[c - 1]));
      }
    }
    if (!(f.front() > previous_first)) {
      bad(fmt::format("spectral windows are not in ascending frequency: window {} ('{}') starts "
                      "at {} Hz, window {} at {} Hz",
                      s, w.name, f.front(), s - 1, previous_first));
    }
    previous_first = f.front();
  }

  if (layout.corr_types.empty()) bad("no correlations");
  std::set<std::int32_t> seen;
  for (std::int32_t c : layout.corr_types) {
    corr_product(c);  // throws for an unknown code
    if (!seen.insert(c).second) bad(fmt::format("correlation type {} listed twice", c));
  }

  if (layout.fields.empty()) bad("no fields");
  for (std::size_t i = 0; i < layout.fields.size(); ++i) {
    const FieldInfo& fi = layout.fields[i];
    if (!std::isfinite(fi.ra_rad) || !std::isfinite(fi.dec_rad) ||
        std::abs(fi.dec_rad) > M_PI / 2 + 1e-12) {
      bad(fmt::format("field {} ('{}'): direction ({}, {}) rad is invalid", i, fi.name, fi.ra_rad,
                      fi.dec_rad));
    }
    if (!std::isfinite(fi.time_mjd_s)) bad(fmt::format("field {} ('{}'): time is not finite", i, fi.name));
  }

  const FeedInfo& feed = layout.feed;
  if (feed.polarization_types.empty() ||
      feed.polarization_types.size() != feed.receptor_angles_rad.size()) {
    bad(fmt::format("feed: {} polarization types for {} receptor angles",
                    feed.polarization_types.size(), feed.receptor_angles_rad.size()));
  }

  if (!(layout.integration_time_s > 0) || !std::isfinite(layout.integration_time_s)) {
    bad(fmt::format("integration time {} s is not positive", layout.integration_time_s));
  }
  const ObservationInfo& o = layout.observation;
  const bool range_unset = o.start_mjd_s == 0 && o.end_mjd_s == 0;
  if (!range_unset && !(o.end_mjd_s >= o.start_mjd_s)) {
    bad(fmt::format("observation time range [{}, {}] is inverted", o.start_mjd_s, o.end_mjd_s));
  }
  if (o.telescope_name.empty()) bad("empty telescope name");
}

}  // namespace contimg::ms
