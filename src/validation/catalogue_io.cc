#include "validation/catalogue_io.h"

#include <fstream>
#include <functional>

#include <fmt/format.h>

#include "common/error.h"
#include "io/fits/fits_table.h"
#include "io/fits/fits_util.h"

namespace contimg::validation {
namespace {

// One list of columns for both formats: name, unit, value.
struct Col {
  const char* name;
  const char* unit;
  std::function<double(const Detection&)> get;
  bool integer = false;
};

const std::vector<Col>& columns() {
  static const std::vector<Col> cols = {
      {"ISLAND_ID", "", [](const Detection& d) { return double(d.island); }, true},
      {"COMPONENT", "", [](const Detection& d) { return double(d.component); }, true},
      {"RA", "deg", [](const Detection& d) { return d.ra_deg; }},
      {"DEC", "deg", [](const Detection& d) { return d.dec_deg; }},
      {"RA_ERR", "arcsec", [](const Detection& d) { return d.ra_err_arcsec; }},
      {"DEC_ERR", "arcsec", [](const Detection& d) { return d.dec_err_arcsec; }},
      {"PEAK_FLUX", "Jy/beam", [](const Detection& d) { return d.peak_jy; }},
      {"PEAK_FLUX_ERR", "Jy/beam", [](const Detection& d) { return d.peak_err_jy; }},
      {"INT_FLUX", "Jy", [](const Detection& d) { return d.flux_jy; }},
      {"INT_FLUX_ERR", "Jy", [](const Detection& d) { return d.flux_err_jy; }},
      {"MAJOR", "arcsec", [](const Detection& d) { return d.major_arcsec; }},
      {"MAJOR_ERR", "arcsec", [](const Detection& d) { return d.major_err_arcsec; }},
      {"MINOR", "arcsec", [](const Detection& d) { return d.minor_arcsec; }},
      {"MINOR_ERR", "arcsec", [](const Detection& d) { return d.minor_err_arcsec; }},
      {"PA", "deg", [](const Detection& d) { return d.pa_deg; }},
      {"PA_ERR", "deg", [](const Detection& d) { return d.pa_err_deg; }},
      {"LOCAL_RMS", "Jy/beam", [](const Detection& d) { return d.local_rms_jy; }},
      {"SNR", "", [](const Detection& d) { return d.snr; }},
      {"X_PIX", "pix", [](const Detection& d) { return d.x; }},
      {"Y_PIX", "pix", [](const Detection& d) { return d.y; }},
      {"FIT_CONVERGED", "", [](const Detection& d) { return d.fit_converged ? 1.0 : 0.0; }, true},
  };
  return cols;
}

}  // namespace

void write_catalogue_fits(const std::filesystem::path& path, const std::vector<Detection>& dets,
                          const std::map<std::string, std::string>& keys) {
  fits::Table t;
  t.extname = "SOURCES";
  t.keys = keys;
  for (const auto& c : columns()) {
    fits::Column col;
    col.name = c.name;
    col.unit = c.unit;
    if (c.integer) {
      std::vector<std::int64_t> v;
      for (const auto& d : dets) v.push_back(static_cast<std::int64_t>(c.get(d)));
      col.data = std::move(v);
    } else {
      std::vector<double> v;
      for (const auto& d : dets) v.push_back(c.get(d));
      col.data = std::move(v);
    }
    t.columns.push_back(std::move(col));
  }
  fits::write_table(path, t);
}

void write_catalogue_csv(const std::filesystem::path& path, const std::vector<Detection>& dets) {
  fits::StagedPath staged(path);
  {
    std::ofstream out(staged.path());
    // Units in the header names, so the file alone says what the numbers are.
    bool first = true;
    for (const auto& c : columns()) {
      out << (first ? "" : ",") << c.name << (c.unit[0] ? fmt::format("[{}]", c.unit) : "");
      first = false;
    }
    out << "\n";
    for (const auto& d : dets) {
      first = true;
      for (const auto& c : columns()) {
        out << (first ? "" : ",") << (c.integer ? fmt::format("{}", static_cast<long>(c.get(d))) : fmt::format("{:.10g}", c.get(d)));
        first = false;
      }
      out << "\n";
    }
    out.flush();
    if (!out) throw IoError(fmt::format("{}: write failed", staged.path().string()));
  }
  staged.commit();
}

}  // namespace contimg::validation
