#pragma once
// Science products in the state database (issue 15; docs/science-products.md):
// the running source catalogue (sources), every measurement of a source on an
// image (measurements), the images that were measured with their coverage
// (photometry_images), the jointly solved groups' covariances
// (photometry_clusters) and incrementally kept light-curve statistics
// (source_stats). The photometry stage returns a PhotometryRecords; storing it
// associates its blind detections with the catalogue, decides which are new
// sources and updates the statistics, in the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "photometry/association.h"
#include "photometry/lightcurve_stats.h"
#include "state/sqlite.h"

namespace contimg::state {

struct PhotometryImage {
  std::string path;                              // the measured (PB-corrected) image, absolute
  std::string group_id;                          // "" for an image measured by `contimg photometry`
  double mjd = 0;                                // DATE-OBS
  double centre_ra_deg = 0, centre_dec_deg = 0;  // the image centre (the beam centre of a snapshot)
  double radius_deg = 0;  // the footprint: farthest finite pixel from the centre
  double freq_hz = 0;
  double noise_jy =
      0;  // flat noise: the lowest of the noise map x PB (the noise at the beam centre)
  bool pb_corrected = true;  // noise grows as 1 / PB away from the centre
  double beam_major_arcsec = 0, beam_minor_arcsec = 0, beam_pa_deg = 0;
};

struct PhotometryMeasurement {
  std::optional<std::int64_t> source_id;  // a catalogue source measured at its position
  std::string ref_name;    // else a reference-catalogue position (source made on first sight)
  double ref_flux_jy = 0;  // the reference's flux at the image frequency
  bool blind = false;      // else a blind detection without a known position: associated on store
  double ra_deg = 0, dec_deg = 0, ra_err_arcsec = 0, dec_err_arcsec = 0;
  double flux_jy = 0, flux_err_jy = 0, local_rms_jy = 0, chi2 = 0;
  int npix = 0;
  int cluster = -1;       // index into PhotometryRecords::clusters
  bool detected = false;  // a blind detection lies at this position
  double det_peak_jy = 0, det_snr = 0;
};

struct PhotometryCluster {
  std::vector<int> members;        // indices into measurements
  std::vector<double> covariance;  // row-major, Jy^2
};

struct PhotometryRecords {
  PhotometryImage image;
  std::vector<PhotometryMeasurement> measurements;
  std::vector<PhotometryCluster> clusters;
  photometry::AssociationOptions association;
  double new_source_sigma = 5;
};

struct SourceRow {
  std::int64_t source_id = 0;
  std::string name, origin;  // origin: reference | detection
  double ra_deg = 0, dec_deg = 0, ra_err_arcsec = 0, dec_err_arcsec = 0;
  double ref_flux_jy = 0;
  bool is_new = false;
  std::optional<double> new_sigma;              // flux / lowest earlier noise at the position
  std::optional<std::int64_t> new_limit_image;  // the image that gave that noise
  std::optional<std::int64_t> first_image;
};

struct StoreSummary {
  std::int64_t phot_image_id = 0;
  int n_measurements = 0, n_new_sources = 0, n_detection_sources = 0;
};

// Stores an image's measurements (replacing the same image's earlier ones in
// `out_root`; the statistics of the sources involved are then recomputed).
StoreSummary store_photometry(Database& db, const PhotometryRecords& r,
                              const std::string& out_root);

// An image measured in `out_root` (the photometry stage's product in the database): what a
// rerun of the chain needs to skip the stage and restore its outputs.
struct MeasuredImage {
  std::int64_t phot_image_id = 0;
  std::int64_t n_measurements = 0, n_blind = 0;
};
std::optional<MeasuredImage> measured_image(Database& db, const std::string& path,
                                            const std::string& out_root);

// Sources whose position lies within `radius_deg` of (ra, dec).
std::vector<SourceRow> sources_in_cone(Database& db, double ra_deg, double dec_deg,
                                       double radius_deg);
std::optional<SourceRow> source_by_name(Database& db, const std::string& name);
std::optional<SourceRow> source_by_id(Database& db, std::int64_t id);

struct LightcurvePoint {
  double mjd = 0, flux_jy = 0, flux_err_jy = 0, local_rms_jy = 0;
  bool detected = false, blind = false;
  std::string image_path, group_id;
  double assoc_distance_arcsec = 0;
};
std::vector<LightcurvePoint> lightcurve(Database& db, std::int64_t source_id);

struct SourceStats {
  SourceRow source;
  photometry::LightcurveAggregate aggregate;
  photometry::VariabilityMetrics metrics;
  std::string max_image_path, min_image_path;
};
// Every source with at least `min_n` measurements.
std::vector<SourceStats> all_source_stats(Database& db, int min_n);

// The statistics of a source recomputed from its stored measurements (and stored).
photometry::LightcurveAggregate recompute_source_stats(Database& db, std::int64_t source_id);

}  // namespace contimg::state
