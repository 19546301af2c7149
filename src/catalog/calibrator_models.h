#pragma once
// Spectral models of VLA calibrators for model prediction and simulation.
// The flux-scale standards 3C48, 3C138, 3C147 and 3C286 use the Perley &
// Butler (2017) polynomials; every other calibrator gets a power law anchored
// at its VLA 20 cm flux (docs/calibrators.md, "Spectral models").
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "catalog/vla_calibrators.h"
#include "sky/sky_model.h"

namespace contimg::catalog {

// Reference frequency of the VLA list's L-band (20 cm) fluxes.
inline constexpr double kVla20cmFreqHz = 1.4e9;
// Spectral index assumed when a calibrator has no other-band flux.
inline constexpr double kDefaultSpectralIndex = -0.7;

// Perley & Butler (2017, ApJS 230, 7, Table 6) coefficients a_i of
// log10(S/Jy) = sum_i a_i [log10(nu/GHz)]^i for a flux-scale standard named
// by its 3C name or its J2000 name ("3C286", "J1331+3030"), or none.
std::optional<std::vector<double>> perley_butler_2017(std::string_view name);

// Stokes I spectrum (and J2000 position) of a calibrator as a sky::Source
// named after its J2000 name: the Perley & Butler polynomial for the four
// standards, else a power law through its 20 cm flux (see spectral_index).
// Throws InputError when the entry has no 20 cm flux and is no standard.
sky::Source calibrator_source(const VlaCalibrator& c);

// The radius within which catalogue sources join a calibrator's field model:
// the first null of the Airy pattern at the bottom of the band (1.22 λ / D =
// 3.2° at 1.28 GHz), rounded up; beyond it a source is < 2 % of its flux.
inline constexpr double kFieldRadiusDeg = 3.5;

// The entries of `list` with a 20 cm flux within `radius_rad` of (ra, dec),
// as calibrator_source, one per position (entries within 30" of one already
// taken are the same source listed twice).
std::vector<sky::Source> calibrator_sources_within(std::span<const VlaCalibrator> list, double ra_rad,
                                                   double dec_rad, double radius_rad);

// Spectral index used for a non-standard calibrator: from its 20 cm flux and
// the flux of the band nearest in log frequency that the list gives (P, C, X,
// ...), clamped to [-1.5, 1]; kDefaultSpectralIndex without such a band.
double spectral_index(const VlaCalibrator& c);

}  // namespace contimg::catalog
