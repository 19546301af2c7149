#pragma once
// A full disk is an I/O failure, never an abort (issue 11, D4). casacore
// rewrites the header of every table opened for update when its last Table
// object goes, and a header write that fails inside a casacore destructor is
// std::terminate (exit 134). After a failed write, a writer calls
// release_without_writing so that its tables are let go without writing.
#include <cstdint>
#include <filesystem>
#include <string>

namespace casacore {
class Table;
}

namespace contimg::ms {

// `table` and the subtables in its keywords are released without writing
// when their last Table object goes (casacore's BaseTable::doNotWrite, meant
// for this). On disk they stay as last flushed, plus whatever data buckets
// were already written. Never throws.
void release_without_writing(const casacore::Table& table) noexcept;

// Flushes `table` (recursively) where casacore's errors can be caught:
// IoError "<what>: …" that says when the disk is full. With less than
// kFlushHeadroomBytes free it does not try (a failed header write inside
// casacore is std::terminate) and fails the same way. After a failure the
// table is released without writing. The caller drops its Table afterwards.
void flush_or_throw(casacore::Table& table, const std::string& what);

// Room below which a flush is not attempted.
inline constexpr std::uint64_t kFlushHeadroomBytes = 4u << 20;

// " (No space left on device: X MB free in DIR)" when `message` says so or
// the filesystem of `dir` is (nearly) full, else "". casacore's own messages
// often carry a stale errno instead of ENOSPC.
std::string disk_full_note(const std::filesystem::path& dir, const std::string& message);

// Free bytes for an unprivileged writer in the filesystem of `dir`
// (UINT64_MAX when it cannot be asked).
std::uint64_t available_bytes(const std::filesystem::path& dir);

}  // namespace contimg::ms
