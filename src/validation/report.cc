#include "validation/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "common/build_info.h"
#include "common/error.h"
#include "io/fits/fits_util.h"
#include "plot/plot.h"
#include "validation/background.h"

namespace contimg::validation {
namespace fs = std::filesystem;
namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot read", p.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string img_tag(const fs::path& png, const std::string& alt) {
  return fmt::format("<img alt=\"{}\" src=\"data:image/png;base64,{}\">", html_escape(alt), base64(read_all(png)));
}

std::string table(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string s = "<table>";
  for (const auto& [k, v] : rows) s += fmt::format("<tr><th>{}</th><td>{}</td></tr>", html_escape(k), html_escape(v));
  return s + "</table>";
}

// Relative to the report's directory when possible (links survive moving the directory).
std::string relative_link(const fs::path& target, const fs::path& html) {
  std::error_code ec;
  auto rel = fs::relative(fs::absolute(target), fs::absolute(html).parent_path(), ec);
  return ec || rel.empty() ? target.string() : rel.generic_string();
}

}  // namespace

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> image_statistics(const fits::Image& image) {
  std::vector<float> finite;
  float peak = -INFINITY;
  for (float v : image.pixels) {
    if (std::isfinite(v)) {
      finite.push_back(v);
      peak = std::max(peak, v);
    }
  }
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Image", image.path.filename().string());
  rows.emplace_back("Size", fmt::format("{} x {} pixels ({} not blank)", image.nx, image.ny, finite.size()));
  if (image.freq_hz) rows.emplace_back("Frequency", fmt::format("{:.4f} GHz", *image.freq_hz / 1e9));
  if (!image.date_obs.empty()) rows.emplace_back("DATE-OBS", image.date_obs);
  if (image.beam) {
    rows.emplace_back("Restoring beam", fmt::format("{:.1f}\" x {:.1f}\", PA {:.1f} deg", image.beam->major_deg * 3600,
                                                    image.beam->minor_deg * 3600, image.beam->pa_deg));
  }
  if (!finite.empty()) {
    std::vector<float> work = finite;
    const auto st = clipped_stats(work, 1e30);  // one pass: plain median and MAD noise
    rows.emplace_back("Noise (MAD)", fmt::format("{:.3g} mJy/beam", st.sigma * 1e3));
    rows.emplace_back("Peak", fmt::format("{:.4g} Jy/beam", peak));
    if (st.sigma > 0) rows.emplace_back("Dynamic range (peak / MAD noise)", fmt::format("{:.0f}", peak / st.sigma));
  }
  return rows;
}

void write_report(const fs::path& html, const ReportInput& in, const fs::path& work_dir) {
  const auto& image = *in.image;
  const auto& dets = *in.detections;
  const auto& refs = *in.references;
  const auto& qa = *in.qa;
  fs::create_directories(work_dir);

  // Quick-look with overlays.
  plot::ImageView view;
  view.pixels = image.pixels.data();
  view.nx = image.nx;
  view.ny = image.ny;
  std::tie(view.vmin, view.vmax) = plot::percentile_range(image.pixels.data(), image.pixels.size(), 1, 99.9);
  if (!(view.vmax > view.vmin)) view.vmax = view.vmin + 1;
  view.title = fmt::format("{}: detections (green circles), reference (orange squares)", in.group_id);
  view.colourbar_label = image.bunit.empty() ? "Jy/beam" : image.bunit;
  for (const auto& d : dets) view.markers.push_back({d.x, d.y, 8, plot::Marker::Shape::kCircle, "#00ff00", ""});
  for (const auto& r : refs) {
    double x, y;
    if (image.wcs->world_to_pixel(r.ra_deg, r.dec_deg, x, y)) {
      view.markers.push_back({x, y, 11, plot::Marker::Shape::kSquare, "#ff8800", ""});
    }
  }
  if (image.beam) {
    const double px_deg = image.wcs->pixel_scale_deg(image.nx / 2.0, image.ny / 2.0);
    view.beam_px = std::array<double, 3>{image.beam->major_deg / px_deg, image.beam->minor_deg / px_deg,
                                         image.beam->pa_deg * std::numbers::pi / 180 +
                                             image.wcs->north_angle_rad(image.nx / 2.0, image.ny / 2.0)};
  }
  const auto quicklook = work_dir / "overlay.png";
  plot::write_image_png(quicklook, view, 900);

  // Offsets and flux ratios: used in the statistics vs. not.
  plot::Series off_used{{}, {}, "used", plot::Series::Style::kMarkers};
  plot::Series off_other{{}, {}, "other matches", plot::Series::Style::kMarkers};
  plot::Series fr_used{{}, {}, "used", plot::Series::Style::kMarkers};
  plot::Series fr_other{{}, {}, "clipped / below SNR cut", plot::Series::Style::kMarkers};
  double fmin = INFINITY, fmax = -INFINITY;
  for (const auto& m : qa.matches) {
    auto& o = m.used_astrometry ? off_used : off_other;
    o.x.push_back(m.dra_arcsec);
    o.y.push_back(m.ddec_arcsec);
    const double f = refs[m.reference].flux_jy * 1e3;
    auto& s = m.used_flux ? fr_used : fr_other;
    s.x.push_back(f);
    s.y.push_back(m.flux_ratio);
    fmin = std::min(fmin, f);
    fmax = std::max(fmax, f);
  }
  const double lim = std::max(qa.rms_offset_arcsec * 3, 1.2 * qa.match_radius_arcsec);
  plot::Panel offsets{"Astrometric offsets (detection - reference)", "dRA cos(Dec) (arcsec)", "dDec (arcsec)",
                      {}, std::pair{-lim, lim}, std::pair{-lim, lim}};
  plot::Panel ratios{"Flux ratio (integrated / reference)", "reference flux (mJy)", "ratio", {}, std::nullopt,
                     std::pair{0.0, 2.0}};
  for (auto* s : {&off_used, &off_other}) {
    if (!s->x.empty()) offsets.series.push_back(*s);
  }
  for (auto* s : {&fr_used, &fr_other}) {
    if (!s->x.empty()) ratios.series.push_back(*s);
  }
  if (std::isfinite(fmin)) {
    ratios.series.push_back({{fmin, fmax}, {1, 1}, "1", plot::Series::Style::kLine});
    if (qa.n_flux > 0) {
      ratios.series.push_back({{fmin, fmax}, {qa.flux_ratio_median, qa.flux_ratio_median}, "median",
                               plot::Series::Style::kLine});
    }
  }
  if (offsets.series.empty()) offsets.series.push_back({{0}, {0}, "no matches", plot::Series::Style::kMarkers});
  if (ratios.series.empty()) ratios.series.push_back({{1}, {1}, "no matches", plot::Series::Style::kMarkers});
  const auto offsets_png = work_dir / "offsets.png", ratios_png = work_dir / "ratios.png";
  if (!qa.crossmatch_skipped) {
    plot::write_panels_png(offsets_png, {offsets}, 1, 600, 560);
    plot::write_panels_png(ratios_png, {ratios}, 1, 600, 560);
  }

  const char* verdict = to_string(qa.verdict);
  std::string body;
  body += fmt::format("<h1>contimg validation: {}</h1>\n", html_escape(in.group_id));
  body += fmt::format("<p class=\"verdict {0}\">Verdict: <b>{0}</b></p>\n<ul>", verdict);
  for (const auto& r : qa.reasons) body += fmt::format("<li>{}</li>", html_escape(r));
  body += "</ul>\n";
  if (qa.crossmatch_skipped) {
    body += fmt::format("<h2>Cross-match</h2><p class=\"skipped\">Skipped: {}. Flux scale, astrometry, "
                        "completeness and false detections were not checked.</p>\n",
                        html_escape(qa.skip_reason));
  } else {
    body += "<h2>Cross-match</h2>" +
          table({{"Reference", in.reference_name},
                 {"Reference sources in the footprint", std::to_string(qa.n_reference)},
                 {"Detections", std::to_string(qa.n_detections)},
                 {"Matches", std::to_string(qa.matches.size())},
                 {"Mean offset (RA cos Dec, Dec)", fmt::format("{:+.2f}\", {:+.2f}\"", qa.mean_dra_arcsec, qa.mean_ddec_arcsec)},
                 {"RMS offset", fmt::format("{:.2f}\" ({} matches)", qa.rms_offset_arcsec, qa.n_astrometry)},
                 {"Flux ratio (clipped median)", fmt::format("{:.3f} ± {:.3f} ({} matches)", qa.flux_ratio_median,
                                                             qa.flux_ratio_sigma, qa.n_flux)},
                 {"Completeness", fmt::format("{:.0f}% ({} of {})", 100 * qa.completeness, qa.n_complete_found, qa.n_complete_ref)},
                 {"Unmatched detections", fmt::format("{} ({:.0f}%)", qa.n_unmatched, 100 * qa.false_rate)}});
  }
  body += "\n<h2>Image</h2>\n<figure>" + img_tag(quicklook, "quick-look with sources") + "</figure>\n";
  // Offsets and flux ratios exist only with a cross-match.
  if (!qa.crossmatch_skipped) {
    body += "<div class=\"plots\"><figure>" + img_tag(offsets_png, "astrometric offsets") + "</figure><figure>" +
            img_tag(ratios_png, "flux ratios") + "</figure></div>\n";
  }
  body += "<h2>Image QA</h2>" + table(in.image_qa) + "\n";
  body += "<h2>Calibration QA</h2>" +
          (in.calibration_qa.empty() ? std::string("<p>No calibration results for this group.</p>")
                                     : table(in.calibration_qa)) + "\n";
  body += "<h2>Products</h2><ul>";
  for (const auto& [label, path] : in.products) {
    const auto link = relative_link(path, html);
    body += fmt::format("<li>{}: <a href=\"{}\">{}</a></li>", html_escape(label), html_escape(link), html_escape(link));
  }
  body += "</ul>\n";
  body += "<h2>Detections</h2><table class=\"cat\"><tr><th>#</th><th>RA (deg)</th><th>Dec (deg)</th><th>Peak (mJy/beam)</th>"
          "<th>Flux (mJy)</th><th>SNR</th><th>Major x minor (\")</th><th>PA (deg)</th></tr>";
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const auto& d = dets[i];
    body += fmt::format("<tr><td>{}</td><td>{:.5f}</td><td>{:+.5f}</td><td>{:.2f}</td><td>{:.2f} &plusmn; {:.2f}</td>"
                        "<td>{:.1f}</td><td>{:.1f} x {:.1f}</td><td>{:.0f}</td></tr>",
                        i, d.ra_deg, d.dec_deg, d.peak_jy * 1e3, d.flux_jy * 1e3, d.flux_err_jy * 1e3, d.snr,
                        d.major_arcsec, d.minor_arcsec, d.pa_deg);
  }
  body += "</table>\n";
  body += fmt::format("<footer>contimg {} &middot; validation thresholds in docs/validation.md</footer>\n",
                      html_escape(build::kVersion));

  const std::string doc = fmt::format(R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>contimg {0}: {1}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
table.cat td {{ text-align: right; font-family: monospace; }}
.verdict {{ font-size: 1.4em; }} .pass b {{ color: #080; }} .warn b {{ color: #b70; }} .fail b {{ color: #c00; }}
img {{ max-width: 100%; }} .plots {{ display: flex; flex-wrap: wrap; gap: 1em; }}
</style></head><body>
{2}<script>
// Report self-check (read by the headless-browser test): every image decoded.
window.addEventListener('load', function () {{
  var imgs = document.images, bad = 0;
  for (var i = 0; i < imgs.length; ++i) if (!imgs[i].complete || imgs[i].naturalWidth === 0) ++bad;
  var m = document.createElement('div');
  m.id = 'contimg-images-check';
  m.textContent = 'images:' + imgs.length + ' broken:' + bad;
  document.body.appendChild(m);
}});
</script></body></html>
)",
                                      html_escape(in.group_id), verdict, body);
  fits::StagedPath staged(html);
  {
    std::ofstream out(staged.path());
    out << doc;
    out.flush();
    if (!out) throw IoError(fmt::format("{}: write failed", staged.path().string()));
  }
  staged.commit();
}

}  // namespace contimg::validation
