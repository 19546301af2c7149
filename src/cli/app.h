#pragma once
// The `contimg` program: global options, configuration, logging, exit codes,
// and the registry of subcommands (one file per command in src/cli/).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/progress.h"
#include "config/config.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::cli {

struct GlobalOptions {
  std::string config_file;
  std::vector<std::string> sets;  // key=value
  std::string log_level;
  std::string log_format;
  std::string progress;
  bool json = false;
};

// What a subcommand needs at run time. The configuration is built after the
// command line is parsed (file -> environment -> flags), before the action runs.
class CommandContext {
 public:
  GlobalOptions options;
  std::vector<config::Override> command_overrides;  // flags a subcommand maps to keys
  // Settings derived from the loaded configuration (e.g. `run --out DIR` puts
  // the state database under DIR unless a file, variable or flag set it).
  std::vector<std::function<std::vector<config::Override>(const config::Config&)>> derived_overrides;
  std::function<int()> action;
  std::vector<std::string> argv;  // the command line, for HISTORY and provenance

  const config::Config& config() const { return *config_; }
  std::shared_ptr<const config::Config> shared_config() const { return config_; }
  const InterruptGuard& interrupts() const { return *interrupts_; }
  bool json() const { return options.json; }
  // A progress display configured by logging.progress / progress_interval_s.
  std::unique_ptr<Progress> progress(std::string label, std::uint64_t total,
                                     std::string unit) const;

  void set_config(std::shared_ptr<const config::Config> c) { config_ = std::move(c); }
  void set_interrupts(const InterruptGuard* g) { interrupts_ = g; }

 private:
  std::shared_ptr<const config::Config> config_;
  const InterruptGuard* interrupts_ = nullptr;
};

// Subcommand registration; each is defined in its own *_command.cc.
void register_info_command(CLI::App& app, CommandContext& ctx);
void register_peek_command(CLI::App& app, CommandContext& ctx);
void register_dump_command(CLI::App& app, CommandContext& ctx);
void register_index_command(CLI::App& app, CommandContext& ctx);
void register_groups_command(CLI::App& app, CommandContext& ctx);
void register_simulate_command(CLI::App& app, CommandContext& ctx);
void register_convert_command(CLI::App& app, CommandContext& ctx);
void register_calibrators_command(CLI::App& app, CommandContext& ctx);
void register_flag_command(CLI::App& app, CommandContext& ctx);
void register_solve_command(CLI::App& app, CommandContext& ctx);
void register_applycal_command(CLI::App& app, CommandContext& ctx);
void register_calsets_command(CLI::App& app, CommandContext& ctx);
void register_validate_command(CLI::App& app, CommandContext& ctx);
void register_catalog_command(CLI::App& app, CommandContext& ctx);
void register_image_command(CLI::App& app, CommandContext& ctx);
void register_run_command(CLI::App& app, CommandContext& ctx);
void register_demo_command(CLI::App& app, CommandContext& ctx);
void register_stream_command(CLI::App& app, CommandContext& ctx);
void register_status_command(CLI::App& app, CommandContext& ctx);
void register_retry_command(CLI::App& app, CommandContext& ctx);
void register_photometry_command(CLI::App& app, CommandContext& ctx);
void register_lightcurve_command(CLI::App& app, CommandContext& ctx);
void register_variables_command(CLI::App& app, CommandContext& ctx);
void register_submit_command(CLI::App& app, CommandContext& ctx);
void register_worker_command(CLI::App& app, CommandContext& ctx);
void register_mosaic_command(CLI::App& app, CommandContext& ctx);
void register_slurm_command(CLI::App& app, CommandContext& ctx);

// Entry point used by main(): returns the process exit code (docs/cli.md).
int run(int argc, char** argv);

}  // namespace contimg::cli
