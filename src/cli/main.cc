#include "cli/app.h"

int main(int argc, char** argv) { return contimg::cli::run(argc, argv); }
