#include "io/ms/ms_time.h"

#include <casacore/casa/Arrays/Vector.h>
#include <casacore/casa/Exceptions/Error.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/Table.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::ms {

std::optional<double> first_time_mjd_s(const std::filesystem::path& ms) {
  try {
    const casacore::Table t(ms.string(), casacore::Table::Old);
    if (t.nrow() == 0) return std::nullopt;
    if (!t.tableDesc().isColumn("TIME")) {
      throw InputError(fmt::format("{}: not a Measurement Set (no TIME column)", ms.string()));
    }
    const auto times = casacore::ScalarColumn<double>(t, "TIME").getColumn();
    return *std::min_element(times.begin(), times.end());
  } catch (const casacore::AipsError& e) {
    throw InputError(fmt::format("{}: cannot read the MS: {}", ms.string(), e.what()));
  }
}

}  // namespace contimg::ms
