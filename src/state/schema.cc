#include "state/schema.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

// Version 1: what indexing and grouping need (SPEC §3, §9). Times of day are
// ISO-8601 UTC text ("2025-01-01T06:00:00", fixed width, so text order is time
// order) next to integer Unix seconds for range queries; data times are MJD
// (UTC); angles radians; sizes bytes; mtimes integer nanoseconds.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE groups (
  group_id          TEXT PRIMARY KEY,     -- sb00's filename timestamp, else the earliest member's
  start_epoch       INTEGER NOT NULL,     -- group_id as Unix seconds (UTC)
  start_mjd         REAL NOT NULL,        -- group_id as MJD (UTC)
  first_file_epoch  INTEGER NOT NULL,     -- earliest member filename time (the window's anchor)
  last_file_epoch   INTEGER NOT NULL,     -- latest member filename time
  n_subbands        INTEGER NOT NULL CHECK (n_subbands BETWEEN 0 AND 16),
  subband_mask      INTEGER NOT NULL CHECK (subband_mask BETWEEN 0 AND 65535),  -- bit k: sbk present
  complete          INTEGER NOT NULL CHECK (complete IN (0, 1)),
  n_duplicates      INTEGER NOT NULL DEFAULT 0,  -- files superseded by a newer one of their subband
  pointing_dec_rad  REAL,
  time_first_mjd    REAL,                 -- data time range over the members
  time_last_mjd     REAL,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'converting', 'converted', 'failed', 'skipped')),
  reason            TEXT,                 -- why failed or skipped
  ms_path           TEXT,
  attempts          INTEGER NOT NULL DEFAULT 0,  -- conversions started
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,        -- membership or state last changed
  state_changed_at  TEXT
);
CREATE INDEX groups_by_start ON groups (start_epoch);
CREATE INDEX groups_by_state ON groups (state, start_epoch);

CREATE TABLE files (
  id                INTEGER PRIMARY KEY,
  path              TEXT NOT NULL UNIQUE, -- absolute
  name_time         TEXT,                 -- filename timestamp; NULL when the name does not parse
  name_epoch        INTEGER,              -- the same as Unix seconds
  subband           INTEGER CHECK (subband BETWEEN 0 AND 15),
  group_id          TEXT REFERENCES groups (group_id) ON DELETE SET NULL,
  superseded        INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),  -- a newer duplicate is used
  size_bytes        INTEGER NOT NULL,
  mtime_ns          INTEGER NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('indexed', 'invalid')),
  error             TEXT,                 -- why invalid
  time_first_mjd    REAL,
  time_last_mjd     REAL,
  pointing_dec_rad  REAL,
  nfreqs            INTEGER,
  ntimes            INTEGER,
  nblts             INTEGER,
  freq_min_hz       REAL,
  freq_max_hz       REAL,
  indexed_at        TEXT NOT NULL,
  CHECK ((state = 'invalid') = (error IS NOT NULL)),
  CHECK (state = 'invalid' OR (name_epoch IS NOT NULL AND subband IS NOT NULL))
);
CREATE INDEX files_by_time ON files (name_epoch);
CREATE INDEX files_by_group ON files (group_id);

CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,                -- ISO-8601 UTC with milliseconds and Z
  group_id  TEXT,                         -- no foreign key: history outlives regrouping
  stage     TEXT NOT NULL,                -- index, group, convert, ...
  level     TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  message   TEXT NOT NULL
);
CREATE INDEX events_by_group ON events (group_id, id);
CREATE INDEX events_by_time ON events (time);
)sql";

// Flagging (docs/flagging.md): one run per MS (re-flagging replaces it), and
// its statistics per antenna, SPW, channel and time as fractions of samples
// flagged before and after the run.
constexpr std::string_view kFlagStats = R"sql(
CREATE TABLE flag_runs (
  ms_path          TEXT PRIMARY KEY,      -- absolute
  group_id         TEXT,                  -- no foreign key: an MS can be flagged without an index
  strategy         TEXT NOT NULL,         -- path of the Lua strategy
  strategy_hash    TEXT NOT NULL,         -- FNV-1a 64 of its text: a changed strategy re-flags
  samples          INTEGER NOT NULL,
  flagged_before   REAL NOT NULL,         -- fractions of all samples
  flagged_after    REAL NOT NULL,
  dead_antennas    TEXT NOT NULL,         -- JSON array of station names
  seconds          REAL NOT NULL,
  finished_at      TEXT NOT NULL
);
CREATE INDEX flag_runs_by_group ON flag_runs (group_id);

CREATE TABLE flag_stats (
  ms_path          TEXT NOT NULL REFERENCES flag_runs (ms_path) ON DELETE CASCADE,
  axis             TEXT NOT NULL CHECK (axis IN ('antenna', 'spw', 'channel', 'time')),
  idx              INTEGER NOT NULL,      -- antenna row, SPW id, channel in frequency order, time index
  label            TEXT NOT NULL,         -- station name, SPW id, frequency (MHz), UTC
  samples          INTEGER NOT NULL,
  flagged_before   REAL NOT NULL,
  flagged_after    REAL NOT NULL,
  PRIMARY KEY (ms_path, axis, idx)
);
)sql";

// Calibration sets (SPEC §5): one row per solve of a calibrator MS, with its
// tables, validity window (MJD seconds UTC, like MS TIME) and QA outcome.
constexpr std::string_view kCalsets = R"sql(
CREATE TABLE calsets (
  id                TEXT PRIMARY KEY,     -- "<group_id>_<calibrator>"
  group_id          TEXT NOT NULL,
  ms_path           TEXT NOT NULL,
  calibrator        TEXT NOT NULL,        -- calibrator (model) name
  refant            TEXT,                 -- reference antenna name
  bandpass_table    TEXT NOT NULL,
  gain_table        TEXT NOT NULL,
  mid_time_s        REAL NOT NULL,        -- MJD s of the calibrator MS's mid time
  valid_from_s      REAL NOT NULL,        -- calibrator MS span - calibration.validity_hours
  valid_to_s        REAL NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('passed', 'failed')),
  grade             TEXT NOT NULL,
  reasons           TEXT NOT NULL DEFAULT '',  -- QA reasons joined by "; "
  qa_json           TEXT NOT NULL DEFAULT '{}',
  created_at        TEXT NOT NULL
);
CREATE INDEX calsets_by_time ON calsets (status, mid_time_s);
)sql";

// Validation (SPEC §7): one row per validated image (the latest run: reruns
// replace it) and its detections. Angles degrees, sizes arcsec, fluxes Jy.
constexpr std::string_view kValidation = R"sql(
CREATE TABLE validations (
  group_id        TEXT PRIMARY KEY,     -- no foreign key: images may be validated without a group row
  image_path      TEXT NOT NULL,
  reference       TEXT NOT NULL,        -- the reference catalogue used
  verdict         TEXT NOT NULL CHECK (verdict IN ('pass', 'warn', 'fail')),
  reasons         TEXT NOT NULL,        -- JSON array of strings, worst first
  metrics         TEXT NOT NULL,        -- JSON: astrometry, flux ratio, completeness, false rate
  n_detections    INTEGER NOT NULL,
  catalogue_fits  TEXT,
  catalogue_csv   TEXT,
  report_html     TEXT,
  validated_at    TEXT NOT NULL
);
CREATE TABLE detections (
  group_id        TEXT NOT NULL REFERENCES validations (group_id) ON DELETE CASCADE,
  idx             INTEGER NOT NULL,     -- row in the catalogue
  island          INTEGER NOT NULL,
  component       INTEGER NOT NULL,
  ra_deg          REAL NOT NULL,
  dec_deg         REAL NOT NULL,
  ra_err_arcsec   REAL NOT NULL,
  dec_err_arcsec  REAL NOT NULL,
  peak_jy         REAL NOT NULL,        -- Jy/beam
  peak_err_jy     REAL NOT NULL,
  flux_jy         REAL NOT NULL,        -- integrated
  flux_err_jy     REAL NOT NULL,
  major_arcsec    REAL NOT NULL,
  minor_arcsec    REAL NOT NULL,
  pa_deg          REAL NOT NULL,
  snr             REAL NOT NULL,
  PRIMARY KEY (group_id, idx)
);
CREATE INDEX detections_by_dec ON detections (dec_deg);
)sql";

// Imaging (SPEC §6): one row per group image, replaced when the group is
// imaged again (idempotent). Angles in degrees / arcsec as named; seconds of
// wall time per step.
constexpr std::string_view kImages = R"sql(
CREATE TABLE images (
  group_id          TEXT PRIMARY KEY,
  ms_path           TEXT NOT NULL,
  data_column       TEXT NOT NULL,        -- the input column imaged (DATA or CORRECTED_DATA)
  image_path        TEXT NOT NULL,
  pbcor_path        TEXT NOT NULL,
  centre_ra_deg     REAL NOT NULL,        -- common phase centre (ICRS)
  centre_dec_deg    REAL NOT NULL,
  freq_hz           REAL,                 -- MFS reference frequency (CRVAL3)
  cell_arcsec       REAL NOT NULL,
  size_px           INTEGER NOT NULL,
  rms_jy            REAL NOT NULL,        -- MAD x 1.4826 over source-free pixels
  peak_jy           REAL NOT NULL,
  dynamic_range     REAL NOT NULL,
  bmaj_arcsec       REAL,
  bmin_arcsec       REAL,
  bpa_deg           REAL,
  seconds_rephase   REAL,
  seconds_wsclean   REAL,
  seconds_total     REAL,
  contimg_version   TEXT NOT NULL,
  imaged_at         TEXT NOT NULL
);
)sql";

void check_list(std::span<const Migration> list) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].version != static_cast<int>(i) + 1) {
      throw Error(fmt::format("schema migrations out of order: entry {} has version {}", i + 1,
                              list[i].version));
    }
  }
}


}  // namespace

// The calibration set whose CORRECTED_DATA an image was made from ('' = none):
// a re-applied group must be imaged again (ImageStage::is_done).
constexpr std::string_view kImagesCalset = R"sql(
ALTER TABLE images ADD COLUMN calset_id TEXT NOT NULL DEFAULT '';
)sql";


// The orchestrator (issue 11, docs/state.md "Jobs and provenance"): one job
// per (group, stage, output tree) with its attempts, holder and lease; products
// registered with what they were made from. The group life cycle gains the
// states of the whole chain; the CHECK list can only change by rebuilding the
// table, and files' group assignments survive the rebuild (DROP TABLE runs
// files' ON DELETE SET NULL, so they are saved and restored).
constexpr std::string_view kJobsGroupsRebuild = R"sql(
CREATE TEMP TABLE saved_file_groups AS SELECT id, group_id FROM files WHERE group_id IS NOT NULL;
CREATE TABLE groups_v7 (
  group_id          TEXT PRIMARY KEY,
  start_epoch       INTEGER NOT NULL,
  start_mjd         REAL NOT NULL,
  first_file_epoch  INTEGER NOT NULL,
  last_file_epoch   INTEGER NOT NULL,
  n_subbands        INTEGER NOT NULL CHECK (n_subbands >= 0),
  subband_mask      INTEGER NOT NULL CHECK (subband_mask >= 0),
  complete          INTEGER NOT NULL CHECK (complete IN (0, 1)),
  n_duplicates      INTEGER NOT NULL DEFAULT 0,
  pointing_dec_rad  REAL,
  time_first_mjd    REAL,
  time_last_mjd     REAL,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'converting', 'converted', 'processing',
                                     'processed', 'failed', 'skipped')),
  reason            TEXT,
  ms_path           TEXT,                 -- the MS of the newest conversion (products holds every one)
  attempts          INTEGER NOT NULL DEFAULT 0,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  state_changed_at  TEXT
);
INSERT INTO groups_v7 SELECT group_id, start_epoch, start_mjd, first_file_epoch, last_file_epoch,
  n_subbands, subband_mask, complete, n_duplicates, pointing_dec_rad, time_first_mjd,
  time_last_mjd, state, reason, ms_path, attempts, created_at, updated_at, state_changed_at
  FROM groups;
DROP TABLE groups;
ALTER TABLE groups_v7 RENAME TO groups;
CREATE INDEX groups_by_start ON groups (start_epoch);
CREATE INDEX groups_by_state ON groups (state, start_epoch);
UPDATE files SET group_id = (SELECT s.group_id FROM saved_file_groups s WHERE s.id = files.id)
  WHERE id IN (SELECT id FROM saved_file_groups);
DROP TABLE saved_file_groups;
)sql";
// (Split from the rebuild above only so PostgreSQL's version shares it; SQLite
// runs the two as one script, as before.)
constexpr std::string_view kJobsTables = R"sql(
CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  group_id        TEXT NOT NULL,
  stage           TEXT NOT NULL,        -- convert, flag, solve, applycal, image, validate
  out_root        TEXT NOT NULL,        -- the output tree the job writes into (absolute)
  state           TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed', 'discarded')),
  attempt         INTEGER NOT NULL DEFAULT 0,   -- attempts started
  holder          TEXT,                 -- host:pid:start-ticks of the running attempt
  lease_expires   REAL,                 -- Unix seconds; renewed by the holder's heartbeat
  heartbeat_at    TEXT,
  fingerprint     TEXT,                 -- inputs + configuration of the attempt that ended done
  error_kind      TEXT CHECK (error_kind IN ('input', 'config', 'io', 'timeout', 'interrupted',
                                             'internal')),
  retryable       INTEGER CHECK (retryable IN (0, 1)),
  error           TEXT,
  seconds         REAL,
  created_at      TEXT NOT NULL,
  started_at      TEXT,
  finished_at     TEXT,
  updated_at      TEXT NOT NULL,
  UNIQUE (group_id, stage, out_root)
);
CREATE INDEX jobs_by_state ON jobs (state, group_id);

CREATE TABLE products (
  id              INTEGER PRIMARY KEY,
  path            TEXT NOT NULL UNIQUE, -- absolute
  kind            TEXT NOT NULL,        -- ms, caltable, image, catalogue, report, ...
  group_id        TEXT NOT NULL,
  stage           TEXT NOT NULL,
  job_id          INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
  token           TEXT,                 -- identity written into a directory product
  size_bytes      INTEGER,              -- a file product's size and mtime when registered
  mtime_ns        INTEGER,
  fingerprint     TEXT NOT NULL,        -- the producing job's fingerprint: the product's version
  inputs          TEXT NOT NULL,        -- JSON: input files (path, size, mtime) or upstream versions
  config          TEXT NOT NULL,        -- JSON: the configuration that matters
  created_at      TEXT NOT NULL
);
CREATE INDEX products_by_group ON products (group_id);

-- Existing conversions are adopted: their MS is trusted by path once (fingerprint 'legacy').
INSERT INTO products (path, kind, group_id, stage, fingerprint, inputs, config, created_at)
  SELECT ms_path, 'ms', group_id, 'convert', 'legacy', '[]', '{}',
         COALESCE(state_changed_at, updated_at)
  FROM groups WHERE state = 'converted' AND ms_path IS NOT NULL;
)sql";


// Room for what comes next (issue 11): images get their own id and a kind (a
// group's image now, a mosaic later: no group, no MS), one image per group
// stays unique; detections reference the image they were found in. The
// group-keyed upsert (ON CONFLICT (group_id)) keeps working.
constexpr std::string_view kImageIds = R"sql(
CREATE TABLE images_v8 (
  image_id          INTEGER PRIMARY KEY,
  kind              TEXT NOT NULL DEFAULT 'group' CHECK (kind IN ('group', 'mosaic')),
  group_id          TEXT UNIQUE,          -- NULL for a mosaic
  ms_path           TEXT,                 -- NULL for a mosaic
  data_column       TEXT NOT NULL,
  image_path        TEXT NOT NULL,
  pbcor_path        TEXT NOT NULL,
  centre_ra_deg     REAL NOT NULL,
  centre_dec_deg    REAL NOT NULL,
  freq_hz           REAL,
  cell_arcsec       REAL NOT NULL,
  size_px           INTEGER NOT NULL,
  rms_jy            REAL NOT NULL,
  peak_jy           REAL NOT NULL,
  dynamic_range     REAL NOT NULL,
  bmaj_arcsec       REAL,
  bmin_arcsec       REAL,
  bpa_deg           REAL,
  seconds_rephase   REAL,
  seconds_wsclean   REAL,
  seconds_total     REAL,
  contimg_version   TEXT NOT NULL,
  imaged_at         TEXT NOT NULL,
  calset_id         TEXT NOT NULL DEFAULT '',
  CHECK (kind = 'mosaic' OR (group_id IS NOT NULL AND ms_path IS NOT NULL))
);
INSERT INTO images_v8 (group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg, freq_hz, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec, bpa_deg, seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id) SELECT group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg, freq_hz, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec, bpa_deg, seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id FROM images;
DROP TABLE images;
ALTER TABLE images_v8 RENAME TO images;
ALTER TABLE detections ADD COLUMN image_id INTEGER REFERENCES images (image_id) ON DELETE SET NULL;
UPDATE detections SET image_id = (SELECT i.image_id FROM images i WHERE i.group_id = detections.group_id);
CREATE INDEX detections_by_image ON detections (image_id);
)sql";

// Two output trees may share one state database (issue 11, D5): calibration
// sets, images and validations are scoped by the output tree whose job made
// them (out_root; '' for rows made before, which every tree sees). A
// calibration set's id is unique within its tree; an image and a validation
// are unique per (group, tree); detections reference their validation.
constexpr std::string_view kTreeScope = R"sql(
CREATE TABLE calsets_v9 (
  id                TEXT NOT NULL,        -- "<group_id>_<calibrator>", unique within out_root
  out_root          TEXT NOT NULL DEFAULT '',
  group_id          TEXT NOT NULL,
  ms_path           TEXT NOT NULL,
  calibrator        TEXT NOT NULL,
  refant            TEXT,
  bandpass_table    TEXT NOT NULL,
  gain_table        TEXT NOT NULL,
  mid_time_s        REAL NOT NULL,
  valid_from_s      REAL NOT NULL,
  valid_to_s        REAL NOT NULL,
  status            TEXT NOT NULL CHECK (status IN ('passed', 'failed')),
  grade             TEXT NOT NULL,
  reasons           TEXT NOT NULL DEFAULT '',
  qa_json           TEXT NOT NULL DEFAULT '{}',
  created_at        TEXT NOT NULL,
  PRIMARY KEY (id, out_root)
);
INSERT INTO calsets_v9 (id, group_id, ms_path, calibrator, refant, bandpass_table, gain_table, mid_time_s, valid_from_s, valid_to_s, status, grade, reasons, qa_json, created_at) SELECT id, group_id, ms_path, calibrator, refant, bandpass_table, gain_table, mid_time_s, valid_from_s, valid_to_s, status, grade, reasons, qa_json, created_at FROM calsets;
DROP TABLE calsets;
ALTER TABLE calsets_v9 RENAME TO calsets;
CREATE INDEX calsets_by_time ON calsets (status, mid_time_s);

CREATE TABLE images_v9 (
  image_id          INTEGER PRIMARY KEY,
  kind              TEXT NOT NULL DEFAULT 'group' CHECK (kind IN ('group', 'mosaic')),
  group_id          TEXT,                 -- NULL for a mosaic
  out_root          TEXT NOT NULL DEFAULT '',
  ms_path           TEXT,
  data_column       TEXT NOT NULL,
  image_path        TEXT NOT NULL,
  pbcor_path        TEXT NOT NULL,
  centre_ra_deg     REAL NOT NULL,
  centre_dec_deg    REAL NOT NULL,
  freq_hz           REAL,
  cell_arcsec       REAL NOT NULL,
  size_px           INTEGER NOT NULL,
  rms_jy            REAL NOT NULL,
  peak_jy           REAL NOT NULL,
  dynamic_range     REAL NOT NULL,
  bmaj_arcsec       REAL,
  bmin_arcsec       REAL,
  bpa_deg           REAL,
  seconds_rephase   REAL,
  seconds_wsclean   REAL,
  seconds_total     REAL,
  contimg_version   TEXT NOT NULL,
  imaged_at         TEXT NOT NULL,
  calset_id         TEXT NOT NULL DEFAULT '',
  UNIQUE (group_id, out_root),
  CHECK (kind = 'mosaic' OR (group_id IS NOT NULL AND ms_path IS NOT NULL))
);
INSERT INTO images_v9 (image_id, kind, group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg, freq_hz, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec, bpa_deg, seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id) SELECT image_id, kind, group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg, freq_hz, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec, bpa_deg, seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id FROM images;
DROP TABLE images;
ALTER TABLE images_v9 RENAME TO images;

CREATE TABLE validations_v9 (
  validation_id   INTEGER PRIMARY KEY,
  group_id        TEXT NOT NULL,        -- no foreign key: images may be validated without a group row
  out_root        TEXT NOT NULL DEFAULT '',
  image_path      TEXT NOT NULL,
  reference       TEXT NOT NULL,
  verdict         TEXT NOT NULL CHECK (verdict IN ('pass', 'warn', 'fail')),
  reasons         TEXT NOT NULL,
  metrics         TEXT NOT NULL,
  n_detections    INTEGER NOT NULL,
  catalogue_fits  TEXT,
  catalogue_csv   TEXT,
  report_html     TEXT,
  validated_at    TEXT NOT NULL,
  UNIQUE (group_id, out_root)
);
INSERT INTO validations_v9 (group_id, image_path, reference, verdict, reasons, metrics, n_detections, catalogue_fits, catalogue_csv, report_html, validated_at) SELECT group_id, image_path, reference, verdict, reasons, metrics, n_detections, catalogue_fits, catalogue_csv, report_html, validated_at FROM validations;
CREATE TABLE detections_v9 (
  validation_id   INTEGER NOT NULL REFERENCES validations_v9 (validation_id) ON DELETE CASCADE,
  group_id        TEXT NOT NULL,
  image_id        INTEGER REFERENCES images (image_id) ON DELETE SET NULL,
  idx             INTEGER NOT NULL,
  island          INTEGER NOT NULL,
  component       INTEGER NOT NULL,
  ra_deg          REAL NOT NULL,
  dec_deg         REAL NOT NULL,
  ra_err_arcsec   REAL NOT NULL,
  dec_err_arcsec  REAL NOT NULL,
  peak_jy         REAL NOT NULL,
  peak_err_jy     REAL NOT NULL,
  flux_jy         REAL NOT NULL,
  flux_err_jy     REAL NOT NULL,
  major_arcsec    REAL NOT NULL,
  minor_arcsec    REAL NOT NULL,
  pa_deg          REAL NOT NULL,
  snr             REAL NOT NULL,
  PRIMARY KEY (validation_id, idx)
);
INSERT INTO detections_v9 (validation_id, group_id, image_id, idx, island, component, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, peak_jy, peak_err_jy, flux_jy, flux_err_jy, major_arcsec, minor_arcsec, pa_deg, snr) SELECT v.validation_id, d.group_id, (SELECT i.image_id FROM images i WHERE i.group_id = d.group_id), d.idx, d.island, d.component, d.ra_deg, d.dec_deg, d.ra_err_arcsec, d.dec_err_arcsec, d.peak_jy, d.peak_err_jy, d.flux_jy, d.flux_err_jy, d.major_arcsec, d.minor_arcsec, d.pa_deg, d.snr FROM detections d JOIN validations_v9 v ON v.group_id = d.group_id;
DROP TABLE detections;
DROP TABLE validations;
ALTER TABLE validations_v9 RENAME TO validations;
ALTER TABLE detections_v9 RENAME TO detections;
CREATE INDEX detections_by_dec ON detections (dec_deg);
CREATE INDEX detections_by_image ON detections (image_id);
)sql";

// Science products (issue 15; docs/science-products.md): the running source
// catalogue, the images that were measured (with the coverage the new-source
// test needs), one measurement per source and image (forced, or a blind
// detection associated on ingest), the covariances of jointly solved groups,
// and light-curve statistics kept as sufficient sums (no per-pair table).
constexpr std::string_view kPhotometry = R"sql(
CREATE TABLE sources (
  source_id        INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  origin           TEXT NOT NULL CHECK (origin IN ('reference', 'detection')),
  ra_deg           REAL NOT NULL,
  dec_deg          REAL NOT NULL,
  ra_err_arcsec    REAL NOT NULL DEFAULT 0,
  dec_err_arcsec   REAL NOT NULL DEFAULT 0,
  ref_flux_jy      REAL,                 -- the reference catalogue's flux (origin reference)
  is_new           INTEGER NOT NULL DEFAULT 0,
  new_sigma        REAL,                 -- first flux / lowest noise of earlier images covering it
  new_limit_image  INTEGER,              -- photometry_images row that gave that noise
  first_image      INTEGER,              -- photometry_images row where it entered the catalogue
  created_at       TEXT NOT NULL
);
CREATE INDEX sources_by_dec ON sources (dec_deg);

CREATE TABLE photometry_images (
  phot_image_id    INTEGER PRIMARY KEY,
  path             TEXT NOT NULL,
  out_root         TEXT NOT NULL DEFAULT '',
  group_id         TEXT NOT NULL DEFAULT '',
  image_id         INTEGER REFERENCES images (image_id) ON DELETE SET NULL,
  mjd              REAL NOT NULL,
  centre_ra_deg    REAL NOT NULL,
  centre_dec_deg   REAL NOT NULL,
  radius_deg       REAL NOT NULL,
  freq_hz          REAL NOT NULL,
  noise_jy         REAL NOT NULL,        -- flat noise at the beam centre
  pb_corrected     INTEGER NOT NULL,
  bmaj_arcsec      REAL NOT NULL,
  bmin_arcsec      REAL NOT NULL,
  bpa_deg          REAL NOT NULL,
  measured_at      TEXT NOT NULL,
  UNIQUE (path, out_root)
);
CREATE INDEX photometry_images_by_dec ON photometry_images (centre_dec_deg, mjd);

CREATE TABLE measurements (
  measurement_id   INTEGER PRIMARY KEY,
  source_id        INTEGER NOT NULL REFERENCES sources (source_id) ON DELETE CASCADE,
  phot_image_id    INTEGER NOT NULL REFERENCES photometry_images (phot_image_id) ON DELETE CASCADE,
  mjd              REAL NOT NULL,
  ra_deg           REAL NOT NULL,        -- where the flux was measured
  dec_deg          REAL NOT NULL,
  flux_jy          REAL NOT NULL,
  flux_err_jy      REAL NOT NULL,
  local_rms_jy     REAL NOT NULL,
  chi2             REAL NOT NULL,
  npix             INTEGER NOT NULL,
  cluster          INTEGER NOT NULL DEFAULT -1,  -- photometry_clusters.cluster of this image, -1 alone
  detected         INTEGER NOT NULL DEFAULT 0,   -- a blind detection lies at this position
  blind            INTEGER NOT NULL DEFAULT 0,   -- measured at a blind detection (associated on ingest)
  det_peak_jy      REAL NOT NULL DEFAULT 0,
  det_snr          REAL NOT NULL DEFAULT 0,
  assoc_rule       TEXT NOT NULL CHECK (assoc_rule IN ('position', 'matched', 'ambiguous', 'new')),
  assoc_distance_arcsec REAL NOT NULL DEFAULT 0,
  assoc_deruiter   REAL NOT NULL DEFAULT 0,
  n_candidates     INTEGER NOT NULL DEFAULT 0,
  UNIQUE (source_id, phot_image_id)
);
CREATE INDEX measurements_by_image ON measurements (phot_image_id);

CREATE TABLE photometry_clusters (
  phot_image_id    INTEGER NOT NULL REFERENCES photometry_images (phot_image_id) ON DELETE CASCADE,
  cluster          INTEGER NOT NULL,
  source_ids       TEXT NOT NULL,        -- JSON array, the covariance's order
  covariance       TEXT NOT NULL,        -- JSON, row-major, Jy^2
  PRIMARY KEY (phot_image_id, cluster)
);

CREATE TABLE source_stats (
  source_id        INTEGER PRIMARY KEY REFERENCES sources (source_id) ON DELETE CASCADE,
  n                INTEGER NOT NULL,
  sum_w            REAL NOT NULL,
  sum_ws           REAL NOT NULL,
  sum_ws2          REAL NOT NULL,
  sum_s            REAL NOT NULL,
  sum_s2           REAL NOT NULL,
  max_flux         REAL NOT NULL,
  max_err          REAL NOT NULL,
  max_image        INTEGER NOT NULL,
  min_flux         REAL NOT NULL,
  min_err          REAL NOT NULL,
  min_image        INTEGER NOT NULL,
  mean_flux        REAL NOT NULL,
  xi               REAL NOT NULL,
  xi_err           REAL NOT NULL,
  eta              REAL NOT NULL,
  v                REAL NOT NULL,
  vs               REAL NOT NULL,
  m                REAL NOT NULL,
  last_mjd         REAL NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE INDEX source_stats_by_eta ON source_stats (eta);
)sql";

// The job queue for several machines (issue 13, docs/scale-out.md): a job's
// priority (lower first: a calibration solve ahead of the applies waiting for
// it) and the time before which it is not claimed (retry backoff); every
// attempt with its holder, outcome and error (the dead letter's history);
// the reaper finds running jobs by lease expiry.
constexpr std::string_view kQueue = R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 100;
ALTER TABLE jobs ADD COLUMN run_after REAL NOT NULL DEFAULT 0;  -- Unix s (the database's clock)
CREATE INDEX jobs_ready ON jobs (state, priority, run_after, id);
CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
CREATE TABLE job_attempts (
  job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt      INTEGER NOT NULL,
  holder       TEXT NOT NULL,
  started_at   TEXT NOT NULL,
  finished_at  TEXT,
  outcome      TEXT NOT NULL DEFAULT 'running'
               CHECK (outcome IN ('running', 'done', 'failed', 'retry', 'discarded',
                                  'lease_expired', 'released', 'taken_over')),
  error_kind   TEXT,
  error        TEXT,
  seconds      REAL,
  PRIMARY KEY (job_id, attempt)
);
)sql";

// The queue's claim order (docs/scale-out.md): priority, then the oldest
// group, then the oldest job. A group's next stage is taken before a younger
// group's first (groups finish in time order: lower latency, fewer
// intermediates on disk), and a job queued again after a dead worker keeps
// its place instead of joining the back of the queue (run_after is a filter,
// no longer an order).
constexpr std::string_view kClaimOrder = R"sql(
DROP INDEX jobs_ready;
CREATE INDEX jobs_claim_order ON jobs (state, priority, group_id, id);
)sql";

// Science products at scale (issue 15; docs/perf.md "Photometry at scale"):
// DSA-110 observes a declination strip, so a cone's declination band holds
// nearly the whole catalogue and every earlier image; a right-ascension window
// on (ra, dec) selects the cone's neighbourhood instead. The footprint radius
// index gives the largest radius (the coverage query's search bound) in one
// step. The same SQL on SQLite and PostgreSQL.
constexpr std::string_view kPhotometryScale = R"sql(
CREATE INDEX sources_by_ra ON sources (ra_deg, dec_deg);
CREATE INDEX photometry_images_by_ra ON photometry_images (centre_ra_deg, centre_dec_deg);
CREATE INDEX photometry_images_by_radius ON photometry_images (radius_deg);
)sql";

// PostgreSQL's migrations 7-9: SQLite changes a CHECK list or a key by
// rebuilding the table (create, copy, drop, rename), which PostgreSQL refuses
// or mis-handles (DROP TABLE of a referenced table; foreign keys follow the
// table, not its name); PostgreSQL alters the tables in place to the same
// schema. (Written with the first PostgreSQL backend, for databases that have
// never been at these versions: no released migration changed.)
constexpr std::string_view kJobsGroupsPostgres = R"sql(
ALTER TABLE groups DROP CONSTRAINT groups_n_subbands_check;
ALTER TABLE groups DROP CONSTRAINT groups_subband_mask_check;
ALTER TABLE groups DROP CONSTRAINT groups_state_check;
ALTER TABLE groups ADD CONSTRAINT groups_n_subbands_check CHECK (n_subbands >= 0);
ALTER TABLE groups ADD CONSTRAINT groups_subband_mask_check CHECK (subband_mask >= 0);
ALTER TABLE groups ADD CONSTRAINT groups_state_check
  CHECK (state IN ('pending', 'converting', 'converted', 'processing', 'processed', 'failed',
                   'skipped'));
)sql";

constexpr std::string_view kImageIdsPostgres = R"sql(
ALTER TABLE images DROP CONSTRAINT images_pkey;
ALTER TABLE images ADD COLUMN image_id INTEGER PRIMARY KEY;
ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'group' CHECK (kind IN ('group', 'mosaic'));
ALTER TABLE images ALTER COLUMN group_id DROP NOT NULL;
ALTER TABLE images ADD CONSTRAINT images_group_id_key UNIQUE (group_id);
ALTER TABLE images ALTER COLUMN ms_path DROP NOT NULL;
ALTER TABLE images ADD CONSTRAINT images_kind_check1
  CHECK (kind = 'mosaic' OR (group_id IS NOT NULL AND ms_path IS NOT NULL));
ALTER TABLE detections ADD COLUMN image_id INTEGER REFERENCES images (image_id) ON DELETE SET NULL;
UPDATE detections SET image_id = (SELECT i.image_id FROM images i WHERE i.group_id = detections.group_id);
CREATE INDEX detections_by_image ON detections (image_id);
)sql";

constexpr std::string_view kTreeScopePostgres = R"sql(
ALTER TABLE calsets ADD COLUMN out_root TEXT NOT NULL DEFAULT '';
ALTER TABLE calsets DROP CONSTRAINT calsets_pkey;
ALTER TABLE calsets ADD PRIMARY KEY (id, out_root);

ALTER TABLE images ADD COLUMN out_root TEXT NOT NULL DEFAULT '';
ALTER TABLE images DROP CONSTRAINT images_group_id_key;
ALTER TABLE images ADD CONSTRAINT images_group_id_out_root_key UNIQUE (group_id, out_root);

ALTER TABLE detections DROP CONSTRAINT detections_group_id_fkey;
ALTER TABLE detections DROP CONSTRAINT detections_pkey;
ALTER TABLE validations DROP CONSTRAINT validations_pkey;
ALTER TABLE validations ADD COLUMN validation_id INTEGER PRIMARY KEY;
ALTER TABLE validations ADD COLUMN out_root TEXT NOT NULL DEFAULT '';
ALTER TABLE validations ADD CONSTRAINT validations_group_id_out_root_key UNIQUE (group_id, out_root);
ALTER TABLE detections ADD COLUMN validation_id INTEGER;
UPDATE detections SET validation_id =
  (SELECT v.validation_id FROM validations v WHERE v.group_id = detections.group_id);
DELETE FROM detections WHERE validation_id IS NULL;
ALTER TABLE detections ALTER COLUMN validation_id SET NOT NULL;
ALTER TABLE detections ADD PRIMARY KEY (validation_id, idx);
ALTER TABLE detections ADD CONSTRAINT detections_validation_id_fkey
  FOREIGN KEY (validation_id) REFERENCES validations (validation_id) ON DELETE CASCADE;
)sql";

const std::vector<Migration>& migrations() {
  static const std::string kJobs = std::string(kJobsGroupsRebuild) + std::string(kJobsTables);
  static const std::string kJobsPostgres =
      std::string(kJobsGroupsPostgres) + std::string(kJobsTables);
  static const std::vector<Migration> list = {
      {1, "files, groups, events (indexing and grouping)", kV1},
      {2, "flag_runs, flag_stats (flagging)", kFlagStats},
      {3, "calsets (calibration registry)", kCalsets},
      {4, "validations and detections (source finding, cross-match QA)", kValidation},
      {5, "images (imaging QA)", kImages},
      {6, "images.calset_id (re-image after a new calibration)", kImagesCalset},
      {7, "jobs, products (orchestrator, provenance); group states of the chain", kJobs,
       kJobsPostgres},
      {8, "images.image_id and kind; detections.image_id", kImageIds, kImageIdsPostgres},
      {9, "calsets, images, validations scoped by output tree", kTreeScope, kTreeScopePostgres},
      {10, "sources, photometry_images, measurements, photometry_clusters, source_stats (science products)",
       kPhotometry},
      {11, "job queue: priority, run_after, job_attempts (scale-out)", kQueue},
      {12, "job queue claim order: priority, group, id", kClaimOrder},
      {13, "sources and photometry_images by right ascension; images by footprint radius", kPhotometryScale},
  };
  return list;
}

int latest_schema_version() { return static_cast<int>(migrations().size()); }

int schema_version(Database& db) {
  // One statement, so one snapshot: asked in two, a database another opener
  // creates in between looked like "tables but no schema_version" (foreign).
  auto probe = db.prepare(
      db.is_postgres()
          ? "SELECT CASE WHEN EXISTS (SELECT 1 FROM information_schema.tables WHERE "
            "table_schema = current_schema() AND table_name = 'schema_version') THEN 1 ELSE 0 END, "
            "(SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() ORDER BY table_name LIMIT 1)"
          : "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
            "name = 'schema_version') THEN 1 ELSE 0 END, (SELECT name FROM sqlite_master WHERE "
            "type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 1)");
  probe.step();
  if (probe.get_int(0) == 0) {
    if (const auto table = probe.get_opt_text(1)) {
      throw ConfigError(
          fmt::format("state db {}: not a contimg state database (it has table \"{}\" but no "
                      "schema_version); point paths.state_db elsewhere",
                      db.path().string(), *table));
    }
    return 0;
  }
  auto st = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
  st.step();
  return static_cast<int>(st.get_int(0));
}

int migrate(Database& db, std::span<const Migration> list) {
  check_list(list);
  const int latest = static_cast<int>(list.size());
  auto refuse_newer = [&](int found) {
    throw ConfigError(fmt::format(
        "state db {}: schema version {} is newer than this contimg knows ({}): use a newer "
        "contimg or another paths.state_db",
        db.path().string(), found, latest));
  };
  // Cheap check without the write lock: the usual case is "up to date".
  const int seen = schema_version(db);
  if (seen > latest) refuse_newer(seen);
  if (seen == latest) return seen;

  Transaction tx(db);
  db.exec(db.translate_ddl(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER NOT NULL PRIMARY KEY,"
      " description TEXT NOT NULL,"
      " applied_at TEXT NOT NULL)"));
  const int current = schema_version(db);  // again, under the lock
  if (current > latest) refuse_newer(current);
  for (const auto& m : list) {
    if (m.version <= current) continue;
    try {
      db.exec(db.is_postgres() && !m.postgres_sql.empty() ? db.translate_ddl(m.postgres_sql)
                                                          : db.translate_ddl(m.sql));
    } catch (const Error& e) {
      throw IoError(fmt::format("state db {}: migration {} ({}) failed: {}", db.path().string(),
                                m.version, m.description, e.what()));
    }
    db.cached("INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)")
        .bind(1, m.version)
        .bind(2, m.description)
        .bind(3, now_iso())
        .run();
  }
  if (!db.is_postgres()) {  // PostgreSQL checks every foreign key as it goes
    auto fk = db.prepare("PRAGMA foreign_key_check");
    if (fk.step()) {
      throw IoError(fmt::format("state db {}: migration to version {} left a row of {} with a "
                                "dangling foreign key",
                                db.path().string(), latest, fk.get_text(0)));
    }
  }
  tx.commit();
  if (current > 0) {
    spdlog::info("state db {}: migrated schema from version {} to {}", db.path().string(), current,
                 latest);
  } else {
    spdlog::debug("state db {}: created schema version {}", db.path().string(), latest);
  }
  return latest;
}

}  // namespace contimg::state
