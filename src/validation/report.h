#pragma once
// The per-group HTML report (SPEC §7): verdict and reasons, the quick-look
// image with detections (circles) and reference sources (squares), the offset
// scatter and flux-ratio plots, image and calibration QA numbers, and links to
// every product. One self-contained file: the PNGs are embedded as base64
// data URIs, nothing is fetched from the network.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "catalog/reference_store.h"
#include "io/fits/fits_image.h"
#include "validation/crossmatch.h"
#include "validation/source_finder.h"

namespace contimg::validation {

struct ReportInput {
  std::string group_id;
  const fits::Image* image = nullptr;
  const std::vector<Detection>* detections = nullptr;
  const std::vector<catalog::RefSource>* references = nullptr;  // in the footprint
  const QaResult* qa = nullptr;
  std::string reference_name;
  std::vector<std::pair<std::string, std::string>> image_qa;        // label, value
  std::vector<std::pair<std::string, std::string>> calibration_qa;  // label, value (may be empty)
  std::vector<std::pair<std::string, std::filesystem::path>> products;  // label, path
};

// Robust image statistics for the QA table: MAD noise, peak, dynamic range.
std::vector<std::pair<std::string, std::string>> image_statistics(const fits::Image& image);

// Writes the report (staged, then renamed); `work_dir` holds the PNGs while they are made.
void write_report(const std::filesystem::path& html, const ReportInput& in,
                  const std::filesystem::path& work_dir);

std::string base64(const std::string& bytes);
std::string html_escape(const std::string& s);

}  // namespace contimg::validation
