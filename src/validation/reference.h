#pragma once
// The reference a validation compares with: a sky model (the simulator's
// truth JSON, or a bare sky-model JSON), an NVSS table (FITS/CSV), or an
// indexed store. Fluxes are brought to the image frequency: sky models by
// Source::flux_at, catalogues with `spectral_index` from their frequency.
#include <filesystem>
#include <vector>

#include "catalog/reference_store.h"
#include "io/fits/fits_image.h"

namespace contimg::validation {

struct ReferenceQuery {
  double freq_hz = 1.4e9;
  double spectral_index = -0.7;
  // Cone for stores (and a pre-filter for files): centre and radius (deg).
  double ra_deg = 0, dec_deg = 0, radius_deg = 180;
};

std::vector<catalog::RefSource> load_reference(const std::filesystem::path& path, const ReferenceQuery& q);

// The cone that covers an image: its centre pixel and the farthest corner.
ReferenceQuery query_for_image(const fits::Image& image, double spectral_index);

// The references whose position falls on a non-blank pixel of the image (its
// primary-beam-cut footprint), with the pixel position.
std::vector<catalog::RefSource> in_footprint(const std::vector<catalog::RefSource>& refs,
                                             const fits::Image& image);

}  // namespace contimg::validation
