#include "io/fits/fits_table.h"

#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"
#include "io/fits/fits_util.h"

namespace contimg::fits {
namespace fs = std::filesystem;

std::size_t Column::size() const {
  return std::visit([](const auto& v) { return v.size(); }, data);
}

namespace {
bool iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

const Column* Table::find(const std::string& name) const {
  for (const auto& c : columns) {
    if (iequal(c.name, name)) return &c;
  }
  return nullptr;
}

void write_table(const fs::path& path, const Table& table) {
  const std::size_t nrows = table.columns.empty() ? 0 : table.columns.front().size();
  std::vector<std::string> names, forms, units;
  for (const auto& c : table.columns) {
    if (c.size() != nrows) {
      throw InputError(fmt::format("{}: column {} has {} rows, {} expected", path.string(), c.name,
                                   c.size(), nrows));
    }
    names.push_back(c.name);
    units.push_back(c.unit);
    if (std::holds_alternative<std::vector<double>>(c.data)) {
      forms.emplace_back("D");
    } else if (std::holds_alternative<std::vector<std::int64_t>>(c.data)) {
      forms.emplace_back("K");
    } else {
      std::size_t w = 1;
      for (const auto& s : std::get<std::vector<std::string>>(c.data)) w = std::max(w, s.size());
      forms.push_back(fmt::format("{}A", w));
    }
  }
  auto ptrs = [](std::vector<std::string>& v) {
    std::vector<char*> p;
    for (auto& s : v) p.push_back(s.data());
    return p;
  };
  auto tt = ptrs(names), tf = ptrs(forms), tu = ptrs(units);
  StagedPath staged(path);
  {
    FitsFile f(staged.path(), FitsFile::kCreate);
    int status = 0;
    fits_create_tbl(f.get(), BINARY_TBL, static_cast<LONGLONG>(nrows), static_cast<int>(tt.size()),
                    tt.data(), tf.data(), tu.data(), table.extname.c_str(), &status);
    f.check(status, "creating the table");
    for (const auto& [k, v] : table.keys) f.write_key(k, v);
    for (std::size_t i = 0; i < table.columns.size() && nrows > 0; ++i) {
      const int col = static_cast<int>(i) + 1;
      const auto& c = table.columns[i];
      if (auto* d = std::get_if<std::vector<double>>(&c.data)) {
        fits_write_col(f.get(), TDOUBLE, col, 1, 1, static_cast<LONGLONG>(nrows),
                       const_cast<double*>(d->data()), &status);
      } else if (auto* n = std::get_if<std::vector<std::int64_t>>(&c.data)) {
        std::vector<LONGLONG> tmp(n->begin(), n->end());
        fits_write_col(f.get(), TLONGLONG, col, 1, 1, static_cast<LONGLONG>(nrows), tmp.data(), &status);
      } else {
        auto strs = std::get<std::vector<std::string>>(c.data);
        auto p = ptrs(strs);
        fits_write_col(f.get(), TSTRING, col, 1, 1, static_cast<LONGLONG>(nrows), p.data(), &status);
      }
      f.check(status, "writing column " + c.name);
    }
    f.close();
  }
  staged.commit();
}

Table read_table(const fs::path& path) {
  if (!fs::exists(path)) throw InputError(fmt::format("{}: no such FITS table", path.string()));
  FitsFile f(path, READONLY);
  int status = 0, nhdu = 0, hdutype = 0;
  fits_get_num_hdus(f.get(), &nhdu, &status);
  bool found = false;
  for (int h = 2; h <= nhdu && !found; ++h) {
    fits_movabs_hdu(f.get(), h, &hdutype, &status);
    f.check(status, "moving to an HDU");
    found = hdutype == BINARY_TBL || hdutype == ASCII_TBL;
  }
  if (!found) throw InputError(fmt::format("{}: no table extension", path.string()));
  Table t;
  t.keys = f.header_keys();
  if (auto it = t.keys.find("EXTNAME"); it != t.keys.end()) t.extname = it->second;
  long nrows = 0;
  int ncols = 0;
  fits_get_num_rows(f.get(), &nrows, &status);
  fits_get_num_cols(f.get(), &ncols, &status);
  f.check(status, "reading the table size");
  for (int col = 1; col <= ncols; ++col) {
    Column c;
    c.name = t.keys.count(fmt::format("TTYPE{}", col)) ? t.keys[fmt::format("TTYPE{}", col)] : fmt::format("COL{}", col);
    if (auto it = t.keys.find(fmt::format("TUNIT{}", col)); it != t.keys.end()) c.unit = it->second;
    int typecode = 0;
    long repeat = 0, width = 0;
    fits_get_coltype(f.get(), col, &typecode, &repeat, &width, &status);
    f.check(status, "reading the type of column " + c.name);
    if (typecode == TSTRING) {
      const long w = hdutype == ASCII_TBL ? width : repeat;
      std::vector<std::string> buf(static_cast<std::size_t>(nrows), std::string(static_cast<std::size_t>(w) + 1, '\0'));
      std::vector<char*> p;
      for (auto& s : buf) p.push_back(s.data());
      if (nrows > 0) {
        char nul[] = "";
        int anynul = 0;
        fits_read_col(f.get(), TSTRING, col, 1, 1, nrows, nul, p.data(), &anynul, &status);
      }
      for (auto& s : buf) {
        s.resize(std::strlen(s.c_str()));
        while (!s.empty() && s.back() == ' ') s.pop_back();
      }
      c.data = std::move(buf);
    } else if (repeat == 1 || hdutype == ASCII_TBL) {
      std::vector<double> v(static_cast<std::size_t>(nrows));
      double nan = std::numeric_limits<double>::quiet_NaN();
      int anynul = 0;
      if (nrows > 0) fits_read_col(f.get(), TDOUBLE, col, 1, 1, nrows, &nan, v.data(), &anynul, &status);
      c.data = std::move(v);
    } else {
      continue;  // vector columns: no reference catalogue needs them
    }
    f.check(status, "reading column " + c.name);
    t.columns.push_back(std::move(c));
  }
  return t;
}

}  // namespace contimg::fits
