#pragma once
// `contimg stream`: the chain as an unattended service (issue 12;
// docs/service.md). One process per input directory and output tree:
//   - files: inotify hints plus a periodic listing; a file is registered
//     (through the indexer, once) when it has settled and its header opens
//     (file_watcher.h);
//   - groups close when their subbands are all present, or after
//     stream.group_timeout_s without a new file (then SPEC §3's
//     incomplete-group policy: skipped, processed with stream.allow_incomplete,
//     or failed when a subband's file is invalid);
//   - each group runs as the orchestrator's jobs, in two segments
//     (chain/group_processor.h): calibrator transits first; a science group's
//     second segment waits (bounded) for a valid calibration set; up to
//     stream.workers segments at once, at most one of each kind, each with its
//     share of the resources budget;
//   - on PostgreSQL (state.db_url / --db) the service ingests only: a closed
//     group's first stage not done is queued (worker.h queue_group) for
//     `contimg worker`s on any machine, and nothing runs in this process;
//   - SIGTERM/SIGINT stop claiming; the running stages finish within
//     stream.stop_timeout_s or are cancelled cleanly; the service exits 0. A
//     restart (also after kill -9) resumes every group at its first stage not
//     done.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "chain/chain_runner.h"
#include "config/config.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::service {

struct StreamOptions {
  std::filesystem::path input_dir;
  chain::ChainLayout layout;
  // Reference catalogue for validation; empty = a `<group_id>.truth.json`
  // beside the input files, else validation.reference_catalogue.
  std::filesystem::path reference;
  double exit_when_idle_s = 0;  // > 0: end when nothing arrived, waited or ran this long
  std::vector<std::string> command_line;
};

struct StreamSummary {
  int files_registered = 0;
  int queued = 0;  // groups queued for workers (on PostgreSQL)
  int processed = 0, failed = 0, skipped = 0;
  int retries = 0;
  int retention_removed = 0;  // products removed by the retention policy
  std::uintmax_t retention_bytes_freed = 0;
  double wall_seconds = 0;
  std::string ended_by;  // "signal", "idle"
  std::string metrics_address;  // host:port of /metrics while it ran; "" = none
  nlohmann::json to_json() const;
};

// The lock file in the output tree that makes one service per tree.
std::filesystem::path lock_path(const chain::ChainLayout& layout);

class StreamService {
 public:
  StreamService(std::shared_ptr<const config::Config> config, const InterruptGuard& interrupts);
  // Runs until a signal or --exit-when-idle. Throws ConfigError when another
  // service holds the output tree or the preflight finds an error.
  StreamSummary run(const StreamOptions& options);

 private:
  std::shared_ptr<const config::Config> config_;
  const InterruptGuard& interrupts_;
};

}  // namespace contimg::service
