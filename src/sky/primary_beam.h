#pragma once
// The one primary-beam model of contimg (SPEC §5, §6, §11): the Airy pattern of
// a uniformly illuminated 4.65 m dish. Simulation, calibration-model prediction
// and imaging's primary-beam correction all call this.
#include "astro/astrometry.h"

namespace contimg::sky {

// Power response (1 at the pointing centre) at angular distance `theta_rad`
// from it, at `freq_hz`: [2 J1(x) / x]^2 with x = pi D sin(theta) / lambda.
double airy_power(double theta_rad, double freq_hz, double dish_m = astro::kDishDiameterM);

// Half-power full width (rad) of the Airy pattern: ~1.029 lambda / D.
double airy_fwhm_rad(double freq_hz, double dish_m = astro::kDishDiameterM);

// Angular distance between two directions (rad), numerically stable.
double angular_distance(double lon1, double lat1, double lon2, double lat2);

}  // namespace contimg::sky
