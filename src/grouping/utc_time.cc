#include "grouping/utc_time.h"

#include "common/error.h"

#include <cctype>
#include <chrono>

#include <fmt/format.h>

namespace contimg::grouping {
namespace {

void set(std::string* why, std::string text) {
  if (why) *why = std::move(text);
}

// Reads exactly `n` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<std::int64_t> civil_to_epoch(int year, int month, int day, int hour, int minute,
                                           int second, std::string* why) {
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                           std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    set(why, fmt::format("invalid date {:04d}-{:02d}-{:02d}", year, month, day));
    return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 59) {
    set(why, fmt::format("invalid time of day {:02d}:{:02d}:{:02d}", hour, minute, second));
    return std::nullopt;
  }
  const auto d = sys_days(ymd).time_since_epoch().count();
  return static_cast<std::int64_t>(d) * 86400 + hour * 3600 + minute * 60 + second;
}

std::string epoch_to_iso(std::int64_t epoch) {
  using namespace std::chrono;
  const sys_seconds t{seconds(epoch)};
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss tod(t - day);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), tod.hours().count(),
                     tod.minutes().count(), tod.seconds().count());
}

std::optional<std::int64_t> parse_utc(std::string_view text, bool end_of_range,
                                      std::string* why) {
  const std::string_view original = text;
  auto bad = [&](std::string_view reason) {
    set(why, fmt::format("\"{}\": {} (expected YYYY-MM-DD[THH:MM[:SS]] UTC)", original, reason));
    return std::nullopt;
  };
  if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) text.remove_suffix(1);
  const auto y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
  if (!y || !mo || !d || text[4] != '-' || text[7] != '-') return bad("not a date");
  int h = end_of_range ? 23 : 0, mi = end_of_range ? 59 : 0, s = end_of_range ? 59 : 0;
  if (text.size() > 10) {
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return bad("bad date/time separator");
    const auto hh = digits(text, 11, 2), mm = digits(text, 14, 2);
    if (!hh || !mm || text.size() < 16 || text[13] != ':') return bad("not a time of day");
    h = *hh;
    mi = *mm;
    if (text.size() > 16) {
      const auto ss = digits(text, 17, 2);
      if (text[16] != ':' || !ss) return bad("bad seconds");
      s = *ss;
      if (text.size() > 19) {
        if (text[19] != '.' || text.size() == 20) return bad("trailing characters");
        for (std::size_t i = 20; i < text.size(); ++i) {
          if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad("bad fraction of a second");
        }
      }
    }
  } else if (text.size() != 10) {
    return bad("not a date");
  }
  std::string reason;
  auto e = civil_to_epoch(*y, *mo, *d, h, mi, s, &reason);
  if (!e) return bad(reason);
  return e;
}

std::int64_t parse_utc_bound(std::string_view text, bool end_of_range, const char* what) {
  std::string why;
  const auto t = parse_utc(text, end_of_range, &why);
  if (!t) throw ConfigError(std::string(what) + ": " + why);
  return *t;
}

}  // namespace contimg::grouping
