#pragma once
// Order statistics shared by the QA code (calibration history, flux scale).
#include <vector>

namespace contimg {

// The median of `values` (the mean of the two middle ones for an even count);
// 0 when empty. Takes a copy: the order is changed.
double median(std::vector<double> values);

}  // namespace contimg
