#pragma once
// Typed context keys (issue 11): every value one stage hands another has one
// declaration here, with its type. Stages read and write them through
// Context::get(key) / with(key, value), and declare which they need and
// provide (Stage::needs / provides), so that the runner can say before a
// stage runs that its input is missing, and after it ran that it broke its
// promise — instead of a bad_variant_access deep inside a stage.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace contimg::pipeline {

enum class ValueType { kString, kInt, kDouble, kBool, kStrings };
const char* to_string(ValueType t);

template <typename T>
struct ValueTypeOf;
template <>
struct ValueTypeOf<std::string> {
  static constexpr ValueType value = ValueType::kString;
};
template <>
struct ValueTypeOf<std::int64_t> {
  static constexpr ValueType value = ValueType::kInt;
};
template <>
struct ValueTypeOf<double> {
  static constexpr ValueType value = ValueType::kDouble;
};
template <>
struct ValueTypeOf<bool> {
  static constexpr ValueType value = ValueType::kBool;
};
template <>
struct ValueTypeOf<std::vector<std::string>> {
  static constexpr ValueType value = ValueType::kStrings;
};

// A key and its type, as a stage declares it.
struct KeySpec {
  std::string_view name;
  ValueType type;
};

template <typename T>
struct Key {
  std::string_view name;
  constexpr operator KeySpec() const { return {name, ValueTypeOf<T>::value}; }
};

namespace keys {
// Inputs of a group's chain (set by whoever starts it).
inline constexpr Key<std::vector<std::string>> kSubbandFiles{
    "subband_files"};                                            // ConversionStage::encode
inline constexpr Key<std::string> kOutputDir{"output_dir"};      // where the MS goes
inline constexpr Key<std::string> kProductsDir{"products_dir"};  // images, catalogues
inline constexpr Key<std::string> kReferenceCatalogue{"reference_catalogue"};  // optional
inline constexpr Key<std::string> kCalsetRequest{"calset_request"};            // applycal --calset

// convert
inline constexpr Key<std::string> kMsPath{"ms_path"};
inline constexpr Key<std::int64_t> kRows{"rows"};
inline constexpr Key<bool> kStagedInTmpfs{"staged_in_tmpfs"};
// flag
inline constexpr Key<double> kFlaggedFraction{"flagged_fraction"};
inline constexpr Key<std::vector<std::string>> kDeadAntennas{"dead_antennas"};
// solve
inline constexpr Key<std::string> kCalibratorField{"calibrator_field"};  // "" when none transits
inline constexpr Key<std::string> kCalsetId{"calset_id"};
inline constexpr Key<std::string> kCalsetStatus{"calset_status"};
inline constexpr Key<std::string> kCalsetReason{"calset_reason"};
inline constexpr Key<std::string> kBandpassTable{"bandpass_table"};
inline constexpr Key<std::string> kGainTable{"gain_table"};
// applycal
inline constexpr Key<bool> kCalibrated{"calibrated"};
inline constexpr Key<std::string> kAppliedCalsetId{"applied_calset_id"};
// image
inline constexpr Key<std::string> kImageFits{"image_fits"};
inline constexpr Key<std::string> kPbcorFits{"pbcor_fits"};
inline constexpr Key<std::string> kPbFits{"pb_fits"};
inline constexpr Key<double> kImageRmsJy{"image_rms_jy"};
inline constexpr Key<double> kImagePeakJy{"image_peak_jy"};
// validate
inline constexpr Key<std::string> kVerdict{"verdict"};
inline constexpr Key<std::vector<std::string>> kVerdictReasons{"verdict_reasons"};
inline constexpr Key<std::int64_t> kNDetections{"n_detections"};
inline constexpr Key<std::string> kCatalogueFits{"catalogue_fits"};
inline constexpr Key<std::string> kCatalogueCsv{"catalogue_csv"};
inline constexpr Key<std::string> kReportHtml{"report_html"};
inline constexpr Key<std::string> kValidationMetrics{"validation_metrics"};
}  // namespace keys

}  // namespace contimg::pipeline
