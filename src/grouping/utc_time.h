#pragma once
// UTC civil times as the pipeline names things: "YYYY-MM-DDTHH:MM:SS" text,
// integer Unix seconds for arithmetic and range queries, MJD for astronomy.
// Leap seconds are not representable (23:59:60 is rejected); over the 60 s
// windows of grouping that costs nothing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace contimg::grouping {

constexpr double kMjdUnixEpoch = 40587.0;  // MJD of 1970-01-01T00:00:00 UTC

// Seconds since 1970-01-01T00:00:00 UTC, or nullopt (with the reason) when
// the fields are not a real date and time of day.
std::optional<std::int64_t> civil_to_epoch(int year, int month, int day, int hour, int minute,
                                           int second, std::string* why = nullptr);

// "2025-01-01T06:00:00".
std::string epoch_to_iso(std::int64_t epoch);
inline double epoch_to_mjd(std::int64_t epoch) {
  return kMjdUnixEpoch + static_cast<double>(epoch) / 86400.0;
}

// A time given by a user (command-line range bounds): "YYYY-MM-DD",
// "YYYY-MM-DDTHH:MM", "YYYY-MM-DDTHH:MM:SS" with 'T' or a space, an optional
// fraction of a second (truncated) and an optional 'Z'. Omitted fields are
// the start of the day/minute, or its last second when `end_of_range` (so
// "2025-01-01 2025-01-01" is the whole day). nullopt with the reason when
// unparsable.
std::optional<std::int64_t> parse_utc(std::string_view text, bool end_of_range,
                                      std::string* why = nullptr);

// parse_utc for a command-line bound: throws ConfigError "<what>: <reason>".
std::int64_t parse_utc_bound(std::string_view text, bool end_of_range, const char* what);

}  // namespace contimg::grouping
