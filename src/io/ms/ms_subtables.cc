#include "io/ms/ms_subtables.h"

#include <casacore/casa/Arrays/Matrix.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/measures/Measures/MDirection.h>
#include <casacore/ms/MeasurementSets/MSColumns.h>
#include <casacore/ms/MeasurementSets/MeasurementSet.h>
#include <casacore/tables/Tables/SetupNewTab.h>

#include <numeric>

namespace contimg::ms::detail {
namespace cc = casacore;

namespace {

cc::Vector<cc::String> strings(const std::vector<std::string>& v) {
  cc::Vector<cc::String> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return out;
}

cc::Vector<cc::Double> doubles(const std::vector<double>& v) {
  cc::Vector<cc::Double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return out;
}

cc::Vector<cc::Double> vec3(const std::array<double, 3>& v) {
  cc::Vector<cc::Double> out(3);
  for (std::size_t i = 0; i < 3; ++i) out[i] = v[i];
  return out;
}

cc::MDirection::Types casacore_frame(DirectionFrame f) {
  return f == DirectionFrame::kIcrs ? cc::MDirection::ICRS : cc::MDirection::J2000;
}

void fill_antenna(cc::MSAntennaColumns& c, const MsLayout& layout) {
  const auto n = layout.antennas.size();
  for (std::size_t i = 0; i < n; ++i) {
    const AntennaInfo& a = layout.antennas[i];
    c.name().put(i, a.name);
    c.station().put(i, a.station);
    c.type().put(i, "GROUND-BASED");
    c.mount().put(i, a.mount);
    c.position().put(i, vec3(a.itrf_m));
    c.offset().put(i, vec3({0.0, 0.0, 0.0}));
    c.dishDiameter().put(i, a.diameter_m);
    c.flagRow().put(i, a.flagged);
  }
}

void fill_feed(cc::MSFeedColumns& c, const MsLayout& layout) {
  const FeedInfo& f = layout.feed;
  const std::size_t nrec = f.polarization_types.size();
  cc::Matrix<cc::Complex> response(nrec, nrec, cc::Complex(0.0f, 0.0f));
  for (std::size_t i = 0; i < nrec; ++i) response(i, i) = cc::Complex(1.0f, 0.0f);
  const cc::Matrix<cc::Double> beam_offset(2, nrec, 0.0);
  const auto types = strings(f.polarization_types);
  const auto angles = doubles(f.receptor_angles_rad);
  for (std::size_t i = 0; i < layout.antennas.size(); ++i) {
    c.antennaId().put(i, static_cast<cc::Int>(i));
    c.feedId().put(i, 0);
    c.spectralWindowId().put(i, -1);  // valid for every SPW
    c.beamId().put(i, -1);
    c.numReceptors().put(i, static_cast<cc::Int>(nrec));
    c.polarizationType().put(i, types);
    c.receptorAngle().put(i, angles);
    c.polResponse().put(i, response);
    c.beamOffset().put(i, beam_offset);
    c.position().put(i, vec3({0.0, 0.0, 0.0}));
    c.time().put(i, 0.0);      // set_time_range
    c.interval().put(i, 0.0);  // set_time_range
  }
}

void fill_field(cc::MSFieldColumns& c, const MsLayout& layout) {
  for (std::size_t i = 0; i < layout.fields.size(); ++i) {
    const FieldInfo& f = layout.fields[i];
    cc::Matrix<cc::Double> dir(2, 1);  // [2, NUM_POLY + 1]
    dir(0, 0) = f.ra_rad;
    dir(1, 0) = f.dec_rad;
    c.name().put(i, f.name);
    c.code().put(i, f.code);
    c.time().put(i, f.time_mjd_s);
    c.numPoly().put(i, 0);
    c.delayDir().put(i, dir);
    c.phaseDir().put(i, dir);
    c.referenceDir().put(i, dir);
    c.sourceId().put(i, static_cast<cc::Int>(i));
    c.flagRow().put(i, false);
  }
}

void fill_source(cc::MSSourceColumns& c, const MsLayout& layout) {
  for (std::size_t i = 0; i < layout.fields.size(); ++i) {
    const FieldInfo& f = layout.fields[i];
    cc::Vector<cc::Double> dir(2);
    dir[0] = f.ra_rad;
    dir[1] = f.dec_rad;
    c.sourceId().put(i, static_cast<cc::Int>(i));
    c.name().put(i, f.name);
    c.code().put(i, f.code);
    c.calibrationGroup().put(i, -1);
    c.spectralWindowId().put(i, -1);
    c.numLines().put(i, 0);
    c.direction().put(i, dir);
    c.properMotion().put(i, cc::Vector<cc::Double>(2, 0.0));
    c.time().put(i, 0.0);      // set_time_range
    c.interval().put(i, 0.0);  // set_time_range
  }
}

void fill_spectral_windows(cc::MSSpWindowColumns& c, const MsLayout& layout) {
  for (std::size_t s = 0; s < layout.spectral_windows.size(); ++s) {
    const SpectralWindowInfo& w = layout.spectral_windows[s];
    const auto freq = doubles(w.chan_freq_hz);
    const auto width = doubles(w.chan_width_hz);
    const double total = std::accumulate(w.chan_width_hz.begin(), w.chan_width_hz.end(), 0.0);
    c.name().put(s, w.name);
    c.numChan().put(s, static_cast<cc::Int>(freq.size()));
    c.chanFreq().put(s, freq);
    c.chanWidth().put(s, width);
    c.effectiveBW().put(s, width);
    c.resolution().put(s, width);
    c.totalBandwidth().put(s, total);
    c.refFrequency().put(s, w.ref_frequency_hz > 0 ? w.ref_frequency_hz : w.chan_freq_hz.front());
    c.measFreqRef().put(s, w.meas_freq_ref);
    c.netSideband().put(s, w.net_sideband);
    c.ifConvChain().put(s, 0);
    c.freqGroup().put(s, 0);
    c.freqGroupName().put(s, "");
    c.flagRow().put(s, false);
  }
}

void fill_polarization(cc::MSPolarizationColumns& c, const MsLayout& layout) {
  const std::size_t ncorr = layout.corr_types.size();
  cc::Vector<cc::Int> types(ncorr);
  cc::Matrix<cc::Int> products(2, ncorr);
  for (std::size_t p = 0; p < ncorr; ++p) {
    types[p] = layout.corr_types[p];
    const auto rec = corr_product(layout.corr_types[p]);
    products(0, p) = rec[0];
    products(1, p) = rec[1];
  }
  c.numCorr().put(0, static_cast<cc::Int>(ncorr));
  c.corrType().put(0, types);
  c.corrProduct().put(0, products);
  c.flagRow().put(0, false);
}

void fill_data_description(cc::MSDataDescColumns& c, const MsLayout& layout) {
  for (std::size_t s = 0; s < layout.spectral_windows.size(); ++s) {
    c.spectralWindowId().put(s, static_cast<cc::Int>(s));
    c.polarizationId().put(s, 0);
    c.flagRow().put(s, false);
  }
}

void fill_observation(cc::MSObservationColumns& c, const MsLayout& layout) {
  const ObservationInfo& o = layout.observation;
  c.telescopeName().put(0, o.telescope_name);
  c.observer().put(0, o.observer);
  c.project().put(0, o.project);
  c.scheduleType().put(0, o.schedule_type);
  c.schedule().put(0, cc::Vector<cc::String>());
  c.log().put(0, cc::Vector<cc::String>());
  c.releaseDate().put(0, 0.0);
  c.timeRange().put(0, cc::Vector<cc::Double>(2, 0.0));  // set_time_range
  c.flagRow().put(0, false);
}

void fill_history(cc::MSHistoryColumns& c, const MsLayout& layout) {
  for (std::size_t i = 0; i < layout.history.size(); ++i) {
    const HistoryEntry& h = layout.history[i];
    c.time().put(i, h.time_mjd_s);
    c.observationId().put(i, 0);
    c.message().put(i, h.message);
    c.priority().put(i, h.priority);
    c.origin().put(i, h.origin);
    c.objectId().put(i, 0);
    c.application().put(i, h.application);
    c.cliCommand().put(i, strings(h.cli_command));
    c.appParams().put(i, strings(h.app_params));
  }
}

void fill_processor(cc::MSProcessorColumns& c, const MsLayout& layout) {
  c.type().put(0, "CORRELATOR");
  c.subType().put(0, layout.processor_sub_type);
  c.typeId().put(0, -1);
  c.modeId().put(0, -1);
  c.flagRow().put(0, false);
}

}  // namespace

void create_source_table(cc::MeasurementSet& ms, DirectionFrame frame) {
  cc::SetupNewTable setup(ms.sourceTableName(), cc::MSSource::requiredTableDesc(), cc::Table::New);
  ms.rwKeywordSet().defineTable(cc::MS::keywordName(cc::MS::SOURCE), cc::Table(setup));
  ms.initRefs();

  const auto code = static_cast<cc::uInt>(casacore_frame(frame));
  cc::MSFieldColumns field(ms.field());
  field.delayDirMeasCol().setDescRefCode(code);
  field.phaseDirMeasCol().setDescRefCode(code);
  field.referenceDirMeasCol().setDescRefCode(code);
  cc::MSSourceColumns source(ms.source());
  source.directionMeas().setDescRefCode(code);
}

void fill_subtables(cc::MeasurementSet& ms, const MsLayout& layout) {
  cc::MSColumns cols(ms);
  ms.antenna().addRow(layout.antennas.size());
  fill_antenna(cols.antenna(), layout);
  ms.feed().addRow(layout.antennas.size());
  fill_feed(cols.feed(), layout);
  ms.field().addRow(layout.fields.size());
  fill_field(cols.field(), layout);
  ms.source().addRow(layout.fields.size());
  fill_source(cols.source(), layout);
  ms.spectralWindow().addRow(layout.spectral_windows.size());
  fill_spectral_windows(cols.spectralWindow(), layout);
  ms.polarization().addRow(1);
  fill_polarization(cols.polarization(), layout);
  ms.dataDescription().addRow(layout.spectral_windows.size());
  fill_data_description(cols.dataDescription(), layout);
  ms.observation().addRow(1);
  fill_observation(cols.observation(), layout);
  ms.history().addRow(layout.history.size());
  fill_history(cols.history(), layout);
  ms.processor().addRow(1);
  fill_processor(cols.processor(), layout);
}

void set_time_range(cc::MeasurementSet& ms, double start_mjd_s, double end_mjd_s) {
  cc::MSColumns cols(ms);
  cc::Vector<cc::Double> range(2);
  range[0] = start_mjd_s;
  range[1] = end_mjd_s;
  for (cc::rownr_t r = 0; r < ms.observation().nrow(); ++r) cols.observation().timeRange().put(r, range);
  const double mid = 0.5 * (start_mjd_s + end_mjd_s);
  const double span = end_mjd_s - start_mjd_s;
  for (cc::rownr_t r = 0; r < ms.feed().nrow(); ++r) {
    cols.feed().time().put(r, mid);
    cols.feed().interval().put(r, span);
  }
  for (cc::rownr_t r = 0; r < ms.source().nrow(); ++r) {
    cols.source().time().put(r, mid);
    cols.source().interval().put(r, span);
  }
}

}  // namespace contimg::ms::detail
