#pragma once
// Internal to src/io/ms: filling the MS subtables from an MsLayout.
#include "io/ms/ms_layout.h"

namespace casacore {
class MeasurementSet;
}

namespace contimg::ms::detail {

// Creates the optional SOURCE subtable (the required ones come from
// MeasurementSet::createDefaultSubtables) and sets the direction frames of
// FIELD and SOURCE. Must run while the subtables are empty.
void create_source_table(casacore::MeasurementSet& ms, DirectionFrame frame);

// Fills ANTENNA, FEED, FIELD, SPECTRAL_WINDOW, POLARIZATION,
// DATA_DESCRIPTION, OBSERVATION, HISTORY, PROCESSOR and SOURCE. POINTING,
// STATE and FLAG_CMD stay empty. Time ranges are set by set_time_range.
void fill_subtables(casacore::MeasurementSet& ms, const MsLayout& layout);

// OBSERVATION.TIME_RANGE = [start, end]; FEED and SOURCE rows become valid
// over it (TIME = its midpoint, INTERVAL = its length).
void set_time_range(casacore::MeasurementSet& ms, double start_mjd_s, double end_mjd_s);

}  // namespace contimg::ms::detail
