// Test-only: writes the tiny Measurement Set of tests/io/ms/tiny_ms.h with
// MsWriter, for independent checks (tests/tools/ms_casacore_check.py with
// python-casacore; WSClean by hand).
//
//   ms_write_tiny OUT.ms [--nant N] [--ntimes N] [--nspw N] [--nchan N]
//                 [--point-source] [--j2000] [--overwrite]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "io/ms/tiny_ms.h"

int main(int argc, char** argv) {
  using namespace contimg::ms;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s OUT.ms [--nant N] [--ntimes N] [--nspw N] [--nchan N] "
                 "[--point-source] [--j2000] [--overwrite]\n",
                 argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  test::TinySpec spec;
  bool j2000 = false, overwrite = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--nant") {
      spec.nant = next();
    } else if (a == "--ntimes") {
      spec.ntimes = next();
    } else if (a == "--nspw") {
      spec.nspw = next();
    } else if (a == "--nchan") {
      spec.nchan = next();
    } else if (a == "--point-source") {
      spec.point_source = true;
    } else if (a == "--j2000") {
      j2000 = true;
    } else if (a == "--overwrite") {
      overwrite = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    MsLayout layout = test::tiny_layout(spec);
    if (j2000) layout.direction_frame = DirectionFrame::kJ2000;
    StorageOptions storage;
    storage.block_rows = static_cast<std::size_t>(spec.nbl());
    MsWriter w(out, layout, storage, overwrite);
    for (int t = 0; t < spec.ntimes; ++t) {
      for (int s = 0; s < spec.nspw; ++s) w.append(test::tiny_block(spec, t, s).view(s));
    }
    w.finish();
    std::printf("%s: %llu rows\n", out.c_str(), static_cast<unsigned long long>(w.rows_written()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ms_write_tiny: %s\n", e.what());
    return 1;
  }
  return 0;
}
