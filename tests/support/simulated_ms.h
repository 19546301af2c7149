#pragma once
// A tiny simulated group converted to a Measurement Set by the real
// simulator and converter, for tests of the stages that read an MS.
#include <filesystem>

#include "simulation/simulation_spec.h"

namespace contimg::test {

// The spec's group simulated into dir/in and converted into dir/out; returns the MS.
std::filesystem::path make_simulated_ms(const std::filesystem::path& dir,
                                        const simulation::SimulationSpec& spec);

}  // namespace contimg::test
