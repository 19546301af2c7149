#pragma once
// Slurm pilots (issue 13; docs/scale-out.md "Slurm"): `contimg slurm submit`
// queues a range like `contimg submit`, then hands Slurm a job array of
// workers (`contimg worker --exit-when-idle S`) that drain the queue. Slurm
// schedules, starts, limits and accounts for them; contimg only writes the
// batch script and runs `sbatch`. The script is kept in DIR/slurm/ (provenance:
// `sbatch FILE` submits the same pilots again).
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace contimg::service {

// What a pilot array is: everything the batch script holds.
struct PilotScriptSpec {
  std::filesystem::path contimg;     // the program every pilot runs (absolute)
  std::vector<std::string> globals;  // contimg's global options: --config, --set, --log-...
  std::string database;              // --db: a postgresql:// URL (no password) or a file
  std::filesystem::path out_dir;     // --out: defaults of a worker without configuration
  int workers = 1;                   // array tasks 0..workers-1
  double exit_when_idle_s = 300;     // > 0: a pilot ends when the queue has been idle so long
  std::string time_limit;            // sbatch --time; "" = the partition's default
  std::string job_name = "contimg-pilot";
  std::filesystem::path log_dir;         // --output/--error: <log_dir>/<job_name>-%A_%a.{out,err}
  std::vector<std::string> sbatch_args;  // passed through as #SBATCH directives, in order
  std::vector<std::string> comments;     // header lines (what was queued, by whom, when)
};

// The bash batch script: #SBATCH directives (array, output files, time limit,
// the pass-through arguments), then one `exec contimg ... worker ...`: the
// worker is the job's process, so Slurm's signals (scancel, the time limit's
// SIGTERM) reach it and it puts its job back before it ends. Its --json
// summary goes to the .out file, its log to the .err file. Throws ConfigError
// for what no script can carry (a newline in an argument, no workers, an
// sbatch argument that is not an option).
std::string pilot_script(const PilotScriptSpec& spec);

// `s` as one bash word: unchanged when it holds only safe characters, else in
// single quotes ('\'' for a quote inside).
std::string shell_quote(std::string_view s);

// `s` as one argument of an #SBATCH line, as sbatch reads those lines (quotes
// group, a backslash escapes the next character, an unquoted # starts a
// comment).
std::string sbatch_directive_quote(std::string_view s);

// The job id (and cluster) of `sbatch --parsable`: its last line
// "JOBID[;CLUSTER]". Throws IoError naming `output` when there is none.
struct SbatchJob {
  std::string job_id;
  std::string cluster;  // "" unless a multi-cluster sbatch named it
};
SbatchJob parse_sbatch_parsable(std::string_view output);

// `sbatch` (a name searched in PATH, or a path) found; else ConfigError naming
// it (Slurm's client commands are not installed here).
std::filesystem::path find_sbatch(const std::string& sbatch);

// Runs `<sbatch> --parsable SCRIPT` and returns the job. Throws ConfigError
// when sbatch is not found (find_sbatch) and when Slurm refused the job (the
// arguments or the script: a rerun changes nothing), IoError when the
// controller could not be reached or sbatch timed out (a retry may help).
SbatchJob run_sbatch(const std::string& sbatch, const std::filesystem::path& script,
                     std::chrono::seconds timeout = std::chrono::seconds(120));

}  // namespace contimg::service
