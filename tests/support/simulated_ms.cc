#include "support/simulated_ms.h"

#include <vector>

#include "astro/site_data.h"
#include "common/build_info.h"
#include "conversion/group_converter.h"
#include "grouping/subband_name.h"
#include "io/uvh5/hdf5_handle.h"
#include "simulation/simulator.h"

namespace contimg::test {

std::filesystem::path make_simulated_ms(const std::filesystem::path& dir,
                                        const simulation::SimulationSpec& spec) {
  uvh5::initialize_hdf5(build::kHdf5PluginDir);
  const auto site = astro::load_site_data(build::kDataDir);
  const auto res = simulation::Simulator(site.observatory, site.stations).run(spec, dir / "in");
  std::vector<conversion::SubbandFile> files;
  for (const auto& f : res.files) {
    files.push_back({grouping::parse_subband_name(f.filename().string()).name->subband, f});
  }
  const conversion::GroupConverter conv(site, {}, {});
  return conv.convert(res.group_id, files, dir / "out").ms_path;
}

}  // namespace contimg::test
