#include "grouping/subband_name.h"

#include <cctype>

#include <fmt/format.h>

#include "grouping/utc_time.h"

namespace contimg::grouping {
namespace {

// 'D' is a digit; every other character must match itself.
constexpr std::string_view kTemplate = "DDDD-DD-DDTDD:DD:DD_sbDD.hdf5";

int number(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

}  // namespace

NameParse parse_subband_name(std::string_view name) {
  NameParse out;
  bool matches = name.size() == kTemplate.size();
  for (std::size_t i = 0; matches && i < name.size(); ++i) {
    const char t = kTemplate[i];
    matches = t == 'D' ? std::isdigit(static_cast<unsigned char>(name[i])) != 0 : name[i] == t;
  }
  if (!matches) {
    out.error = fmt::format("{}: not a subband file name (expected YYYY-MM-DDTHH:MM:SS_sbNN.hdf5)",
                            name);
    return out;
  }
  const int sb = number(name, 22, 2);
  if (sb >= kMaxSubbands) {
    out.error = fmt::format("{}: subband code {:02d} out of range 00..15", name, sb);
    return out;
  }
  std::string why;
  const auto epoch = civil_to_epoch(number(name, 0, 4), number(name, 5, 2), number(name, 8, 2),
                                    number(name, 11, 2), number(name, 14, 2), number(name, 17, 2),
                                    &why);
  if (!epoch) {
    out.error = fmt::format("{}: {}", name, why);
    return out;
  }
  out.name = SubbandName{std::string(name.substr(0, 19)), *epoch, sb};
  return out;
}

bool is_subband_candidate(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.ends_with(".hdf5") &&
         name.find("_sb") != std::string_view::npos;
}

std::string subband_file_name(std::string_view timestamp, int subband) {
  return fmt::format("{}_sb{:02d}.hdf5", timestamp, subband);
}

}  // namespace contimg::grouping
