#include "io/ms/table_release.h"

#include <casacore/casa/Exceptions/Error.h>
#include <casacore/casa/Utilities/DataType.h>
#include <casacore/tables/Tables/PlainTable.h>
#include <casacore/tables/Tables/TableCache.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <sys/statvfs.h>

#include <cstdint>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg::ms {
namespace cc = casacore;
namespace {
// Below this much free space a failed write is reported as a full disk.
constexpr std::uint64_t kFullBelowBytes = 4u << 20;
}  // namespace

namespace {
// The open table behind `t` (Table::baseTablePtr is private; the table cache
// that holds every open plain table is not).
void do_not_write(const cc::Table& t) {
  if (t.isNull()) return;
  if (cc::PlainTable* p = cc::PlainTable::tableCache()(t.tableName())) p->doNotWrite();
}
}  // namespace

void release_without_writing(const cc::Table& table) noexcept {
  try {
    if (table.isNull()) return;
    do_not_write(table);
    const cc::TableRecord& kw = table.keywordSet();
    for (cc::uInt i = 0; i < kw.nfields(); ++i) {
      if (kw.type(i) == cc::TpTable) do_not_write(kw.asTable(i));
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: releasing the table without writing: {}", std::string(table.tableName()), e.what());
  }
}

std::uint64_t available_bytes(const std::filesystem::path& dir) {
  struct statvfs st{};
  if (::statvfs(dir.c_str(), &st) != 0) return UINT64_MAX;  // unknown: never "full"
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

void flush_or_throw(cc::Table& table, const std::string& what) {
  const std::filesystem::path dir = std::string(table.tableName());
  if (const auto avail = available_bytes(dir); avail < kFlushHeadroomBytes) {
    release_without_writing(table);
    throw IoError(fmt::format("{}: No space left on device ({:.1f} MB free in {}; not flushing {})", what,
                              avail / 1e6, dir.parent_path().string(), dir.string()));
  }
  try {
    table.flush(true, true);
  } catch (const cc::AipsError& e) {
    const std::string note = disk_full_note(dir.parent_path(), e.what());
    release_without_writing(table);
    throw IoError(fmt::format("{}: flushing {}: {}{}", what, dir.string(), e.what(), note));
  }
}

std::string disk_full_note(const std::filesystem::path& dir, const std::string& message) {
  const std::uint64_t avail = available_bytes(dir);
  // casacore's FiledesIO throws "write error" when write() returns fewer bytes
  // than asked, with whatever errno was left over. A short write to a regular
  // file means the file system ran out of room, even if another writer has
  // given some back by the time we look (seen in CI: "write error ...: No such
  // file or directory" with 5 MB free a moment later).
  const bool short_write = message.find("FiledesIO::write - write error") != std::string::npos;
  if (short_write && message.find("No space left") == std::string::npos) {
    return fmt::format(" (No space left on device: a short write; {:.1f} MB free now in {})", avail / 1e6,
                       dir.string());
  }
  if (message.find("No space left") == std::string::npos && avail >= kFullBelowBytes) return "";
  return fmt::format(" (No space left on device: {:.1f} MB free in {})", avail / 1e6, dir.string());
}

}  // namespace contimg::ms
