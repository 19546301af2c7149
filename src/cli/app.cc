#include "cli/app.h"

#include <iostream>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/build_info.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "io/uvh5/hdf5_handle.h"

namespace contimg::cli {
namespace {

std::vector<config::Override> global_overrides(const GlobalOptions& o) {
  std::vector<config::Override> out;
  for (const auto& kv : o.sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set expects key=value, got \"" + kv + "\"");
    }
    out.push_back({kv.substr(0, eq), kv.substr(eq + 1), "--set"});
  }
  if (!o.log_level.empty()) out.push_back({"logging.level", o.log_level, "--log-level"});
  if (!o.log_format.empty()) out.push_back({"logging.format", o.log_format, "--log-format"});
  if (!o.progress.empty()) out.push_back({"logging.progress", o.progress, "--progress"});
  return out;
}

struct Failure {
  const char* kind;  // config, input, io, cancelled, internal (docs/cli.md)
  std::string message;
  int exit_code;
};

// Every error that ends the program, whether thrown by a command line parse,
// a subcommand's callback, the configuration or the action, is classified here.
Failure classify(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ConfigError& x) {
    return {"config", x.what(), static_cast<int>(ExitCode::kUsage)};
  } catch (const InputError& x) {
    return {"input", x.what(), static_cast<int>(ExitCode::kInputError)};
  } catch (const IoError& x) {
    return {"io", x.what(), static_cast<int>(ExitCode::kIoError)};
  } catch (const std::filesystem::filesystem_error& x) {
    return {"io", x.what(), static_cast<int>(ExitCode::kIoError)};
  } catch (const Cancelled& x) {
    return {"cancelled", x.what(), static_cast<int>(ExitCode::kInterrupted)};
  } catch (const std::exception& x) {
    return {"internal", x.what(), static_cast<int>(ExitCode::kFailure)};
  } catch (...) {
    return {"internal", "unknown exception", static_cast<int>(ExitCode::kFailure)};
  }
}

void log_failure(const Failure& f) {
  const std::string_view kind = f.kind;
  if (kind == "config") {
    spdlog::error("configuration: {}", f.message);
  } else if (kind == "input") {
    spdlog::error("input: {}", f.message);
  } else if (kind == "io") {
    spdlog::error("i/o: {}", f.message);
  } else if (kind == "cancelled") {
    spdlog::warn("{}", f.message);
  } else {
    spdlog::error("{}", f.message);
  }
}

// With --json a script reads stdout only: a failure is one JSON object there.
void print_json_failure(const Failure& f) {
  const nlohmann::json j = {
      {"ok", false},
      {"error", {{"kind", f.kind}, {"message", f.message}, {"exit_code", f.exit_code}}}};
  std::cout << j.dump(2) << "\n";
  std::cout.flush();
}

// --json may not have been stored when the parse failed before reaching it.
bool json_requested(const GlobalOptions& o, int argc, char** argv) {
  if (o.json) return true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--json") return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<Progress> CommandContext::progress(std::string label, std::uint64_t total,
                                                   std::string unit) const {
  return std::make_unique<Progress>(std::move(label), total, std::move(unit),
                                    Progress::parse_mode(config_->get_string("logging.progress")),
                                    config_->get_double("logging.progress_interval_s"));
}

int run(int argc, char** argv) {
  InterruptGuard interrupts;  // before any thread starts
  // Until the configuration is read, log plainly at info level.
  logging::setup({});

  CommandContext ctx;
  ctx.set_interrupts(&interrupts);
  ctx.argv.assign(argv, argv + argc);
  CLI::App app{"contimg: the DSA-110 continuum imaging pipeline", "contimg"};
  app.set_version_flag("--version", std::string("contimg ") + build::kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  auto& o = ctx.options;
  app.add_option("--config", o.config_file, "TOML configuration file (default: $CONTIMG_CONFIG)")
      ->check(CLI::ExistingFile);
  app.add_option("--set", o.sets, "Override a configuration key: --set section.key=value")
      ->type_name("KEY=VALUE");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, off");
  app.add_option("--log-format", o.log_format, "text or json log lines");
  app.add_option("--progress", o.progress, "auto, bar, log or quiet");
  app.add_flag("--json", o.json, "Machine-readable JSON on stdout");

  register_info_command(app, ctx);
  register_peek_command(app, ctx);
  register_dump_command(app, ctx);
  register_index_command(app, ctx);
  register_groups_command(app, ctx);
  register_simulate_command(app, ctx);
  register_convert_command(app, ctx);
  register_calibrators_command(app, ctx);
  register_flag_command(app, ctx);
  register_solve_command(app, ctx);
  register_applycal_command(app, ctx);
  register_calsets_command(app, ctx);
  register_validate_command(app, ctx);
  register_catalog_command(app, ctx);
  register_image_command(app, ctx);
  register_run_command(app, ctx);
  register_demo_command(app, ctx);
  register_stream_command(app, ctx);
  register_status_command(app, ctx);
  register_retry_command(app, ctx);
  register_submit_command(app, ctx);
  register_worker_command(app, ctx);
  register_photometry_command(app, ctx);
  register_lightcurve_command(app, ctx);
  register_variables_command(app, ctx);
  register_mosaic_command(app, ctx);
  register_slurm_command(app, ctx);

  // One handler for every stage: subcommand callbacks run inside parse() and
  // may throw ConfigError (e.g. `simulate --size huge`), which must not escape.
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e);  // prints help, version or the parse error
      if (code == 0) return 0;
      const Failure f{"config", e.what(), static_cast<int>(ExitCode::kUsage)};
      if (json_requested(o, argc, argv)) print_json_failure(f);
      return f.exit_code;
    }

    config::LoadOptions load;
    if (!o.config_file.empty()) load.file = o.config_file;
    load.environment = config::from_process_environment();
    load.overrides = global_overrides(o);
    load.overrides.insert(load.overrides.end(), ctx.command_overrides.begin(),
                          ctx.command_overrides.end());
    auto loaded = config::Config::load(load);
    for (const auto& derive : ctx.derived_overrides) {
      for (const auto& ov : derive(loaded)) loaded = loaded.with_override(ov);
    }
    auto cfg = std::make_shared<const config::Config>(std::move(loaded));
    logging::setup({cfg->get_string("logging.level"),
                     logging::parse_format(cfg->get_string("logging.format")),
                     cfg->get_string("logging.file")});
    Progress::parse_mode(cfg->get_string("logging.progress"));  // validate early
    uvh5::initialize_hdf5(cfg->get_string("hdf5.plugin_dir"));
    ctx.set_config(std::move(cfg));
    if (!ctx.action) return static_cast<int>(ExitCode::kUsage);
    const int code = ctx.action();
    std::cout.flush();
    return code;
  } catch (...) {
    const Failure f = classify(std::current_exception());
    log_failure(f);
    if (json_requested(o, argc, argv)) print_json_failure(f);
    return f.exit_code;
  }
}

}  // namespace contimg::cli
