#pragma once
// The images table (imaging QA, SPEC §6): one row per group and output tree,
// replaced when the group is imaged again in that tree.
#include <optional>
#include <string>
#include <vector>

namespace contimg::state {

class StateDb;

struct ImageRecord {
  std::string group_id;
  std::string out_root;  // the output tree whose job made it ("" = before trees)
  std::string ms_path;
  std::string data_column;
  std::string calset_id;  // the set applied to the data imaged; empty = uncalibrated
  std::string image_path;
  std::string pbcor_path;
  double centre_ra_deg = 0, centre_dec_deg = 0;
  std::optional<double> freq_hz;
  double cell_arcsec = 0;
  long size_px = 0;
  double rms_jy = 0, peak_jy = 0, dynamic_range = 0;
  std::optional<double> bmaj_arcsec, bmin_arcsec, bpa_deg;
  std::optional<double> seconds_rephase, seconds_wsclean, seconds_total;
  std::string contimg_version;
  std::string imaged_at;  // set by upsert_image
};

// Inserts or replaces the row of (group, out_root) (imaged_at = now).
void upsert_image(StateDb& db, const ImageRecord& r);
// `tree`: that tree's row, else one made before trees; nullopt: the most
// recent of any tree.
std::optional<ImageRecord> image_record(StateDb& db, const std::string& group_id,
                                        const std::optional<std::string>& tree = std::nullopt);

// Group ids ("YYYY-MM-DDTHH:MM:SS") with a group image in [first, last]
// (compared as text, which orders these ids by time), ascending.
std::vector<std::string> imaged_groups_in_range(StateDb& db, const std::string& first, const std::string& last);

}  // namespace contimg::state
