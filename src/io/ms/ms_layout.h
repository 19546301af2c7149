#pragma once
// What a new Measurement Set looks like before any row is written: antennas,
// spectral windows, correlations, fields, the observation and history. The
// MsWriter fills every subtable from this description (SPEC §4); the
// converter builds it from the UVH5 headers and the station table.
//
// Units: metres, Hz, radians, seconds; times are MJD seconds (UTC), as the MS
// TIME columns store them. Nothing here depends on casacore.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace contimg::ms {

// CASA's Stokes codes (casacore Stokes::StokesTypes) for POLARIZATION.CORR_TYPE.
enum CorrType : std::int32_t {
  kCorrRR = 5,
  kCorrRL = 6,
  kCorrLR = 7,
  kCorrLL = 8,
  kCorrXX = 9,
  kCorrXY = 10,
  kCorrYX = 11,
  kCorrYY = 12,
};

// The frame written into the MEASINFO of FIELD's PHASE_DIR, DELAY_DIR and
// REFERENCE_DIR and SOURCE's DIRECTION. The coordinates themselves are
// written as given; only the label differs. See docs/ms-layout.md.
enum class DirectionFrame { kIcrs, kJ2000 };
const char* to_string(DirectionFrame f);  // "ICRS" / "J2000"

struct AntennaInfo {
  std::string name;     // ANTENNA.NAME, e.g. "1"
  std::string station;  // ANTENNA.STATION, e.g. "DSA-001"
  std::array<double, 3> itrf_m{};  // ANTENNA.POSITION, geocentric ITRF (m)
  double diameter_m = 4.65;
  std::string mount = "ALT-AZ";  // CASA spelling: ALT-AZ, EQUATORIAL, X-Y, SPHERICAL
  bool flagged = false;          // ANTENNA.FLAG_ROW
};

struct SpectralWindowInfo {
  std::string name;                   // SPECTRAL_WINDOW.NAME, e.g. "sb15"
  std::vector<double> chan_freq_hz;   // channel centres, strictly ascending
  std::vector<double> chan_width_hz;  // positive, one per channel
  double ref_frequency_hz = 0;        // 0: the first channel's frequency
  std::int32_t meas_freq_ref = 5;     // MFrequency::TOPO
  std::int32_t net_sideband = 1;      // upper sideband: frequencies rise with channel
};

struct FieldInfo {
  std::string name;       // e.g. "meridian_icrs_t0"
  std::string code;       // FIELD.CODE / SOURCE.CODE (free text; "" is fine)
  double ra_rad = 0;      // in the layout's DirectionFrame
  double dec_rad = 0;
  double time_mjd_s = 0;  // FIELD.TIME: the epoch the direction refers to
};

struct ObservationInfo {
  std::string telescope_name = "DSA_110";
  std::string observer;
  std::string project;
  std::string schedule_type;
  // OBSERVATION.TIME_RANGE. Both 0: the writer uses the span of the rows it
  // wrote (first TIME − INTERVAL/2 … last TIME + INTERVAL/2).
  double start_mjd_s = 0;
  double end_mjd_s = 0;
};

struct HistoryEntry {
  double time_mjd_s = 0;  // when the entry was made (MJD s UTC)
  std::string message;
  std::string application;  // e.g. "contimg"
  std::string origin;       // e.g. "contimg convert 0.1.0 (abc1234)"
  std::string priority = "INFO";
  std::vector<std::string> cli_command;  // argv
  std::vector<std::string> app_params;   // "key=value"
};

struct FeedInfo {
  // Receptor polarization types and angles (rad), the same for all antennas.
  // Defaults: ideal orthogonal linear feeds, X at 0 and Y at π/2.
  std::vector<std::string> polarization_types = {"X", "Y"};
  std::vector<double> receptor_angles_rad = {0.0, 1.5707963267948966};
};

struct MsLayout {
  std::vector<AntennaInfo> antennas;  // row i = antenna index i in ANTENNA1/2
  std::vector<SpectralWindowInfo> spectral_windows;  // DATA_DESC_ID i = SPW i
  std::vector<std::int32_t> corr_types = {kCorrXX, kCorrYY};
  std::vector<FieldInfo> fields;
  DirectionFrame direction_frame = DirectionFrame::kIcrs;
  ObservationInfo observation;
  std::vector<HistoryEntry> history;
  FeedInfo feed;
  double integration_time_s = 0;  // INTERVAL = EXPOSURE unless a block overrides it
  std::string processor_sub_type = "DSA-110";  // PROCESSOR.SUB_TYPE (TYPE is CORRELATOR)
  // Rows the caller will append (e.g. 16 × 111744); finish() fails when a
  // different number was written. 0: not checked.
  std::uint64_t expected_rows = 0;
};

// Throws InputError naming the first problem: no antennas / SPWs / fields,
// empty or non-ascending channels, non-positive widths, SPWs not in
// ascending frequency, unknown correlation codes, non-finite positions,
// non-positive integration time, an inverted time range, …
void validate(const MsLayout& layout);

// CORR_PRODUCT receptor pair of one CASA Stokes code: XX → (0,0), XY → (0,1),
// YX → (1,0), YY → (1,1), and the same for RR…LL. Throws InputError for
// codes that are not correlation products.
std::array<std::int32_t, 2> corr_product(std::int32_t corr_type);

}  // namespace contimg::ms
