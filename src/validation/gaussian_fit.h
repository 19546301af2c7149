#pragma once
// Least-squares fits of elliptical Gaussians to the pixels of an island
// (Levenberg–Marquardt with an analytic Jacobian; a few components of six
// parameters each). Sizes are bounded below (projected steps): a source is
// never fitted smaller than the restoring beam (SPEC §7).
#include <vector>

namespace contimg::validation {

// Pixel frame: x right, y up; theta is the angle of the major axis from +y
// towards -x (equal to the position angle on a north-up, east-left image).
struct Gaussian2D {
  double amp = 0, x0 = 0, y0 = 0;
  double sigma_major = 1, sigma_minor = 1;  // pixels
  double theta = 0;                          // rad
  double value(double x, double y) const;
  // Swaps the axes when minor > major, and puts theta in (-pi/2, pi/2].
  void normalise();
};

struct FitPixel {
  double x, y, value, weight;  // weight = 1 / sigma^2
};

struct FitBounds {
  double min_sigma_major = 0, min_sigma_minor = 0;  // pixels
  double x_min = -1e300, x_max = 1e300, y_min = -1e300, y_max = 1e300;  // centre box
};

struct FitResult {
  std::vector<Gaussian2D> components;
  bool converged = false;
  int iterations = 0;
  double chi2 = 0;  // weighted sum of squared residuals
};

FitResult fit_gaussians(const std::vector<FitPixel>& pixels, std::vector<Gaussian2D> initial,
                        const FitBounds& bounds, int max_iterations = 200);

}  // namespace contimg::validation
