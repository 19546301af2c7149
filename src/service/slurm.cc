#include "service/slurm.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/subprocess.h"

namespace contimg::service {
namespace fs = std::filesystem;

namespace {

bool has_line_break(std::string_view s) {
  return s.find('\n') != std::string_view::npos || s.find('\r') != std::string_view::npos;
}

// A line break would end a comment or a directive and start a command.
void require_one_line(std::string_view what, std::string_view s) {
  if (has_line_break(s)) {
    throw ConfigError(
        fmt::format("slurm: {} \"{}\" holds a line break, which a batch script "
                    "cannot carry on one line",
                    what, s));
  }
}

std::string seconds_text(double s) {
  if (std::floor(s) == s && s < 1e15) return fmt::format("{}", static_cast<long long>(s));
  return fmt::format("{}", s);
}

bool contains_no_case(std::string_view text, std::string_view word) {
  const auto it =
      std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
  return it != text.end();
}

std::string last_lines(const std::string& text, std::size_t max_chars = 1500) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t.size() > max_chars) t = "…" + t.substr(t.size() - max_chars);
  return t;
}

}  // namespace

std::string shell_quote(std::string_view s) {
  const bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
  });
  if (safe) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string sbatch_directive_quote(std::string_view s) {
  const bool plain = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '\\' ||
           c == '#';
  });
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string pilot_script(const PilotScriptSpec& spec) {
  if (spec.workers < 1) {
    throw ConfigError(fmt::format("slurm: --workers {}: at least one pilot", spec.workers));
  }
  if (!(spec.exit_when_idle_s > 0)) {
    // A pilot that never ends holds its allocation until the time limit.
    throw ConfigError("slurm: --exit-when-idle must be > 0 s: a pilot ends when the queue is idle");
  }
  if (spec.contimg.empty() || spec.database.empty() || spec.out_dir.empty() ||
      spec.log_dir.empty()) {
    throw ConfigError(
        "slurm: the pilot script needs the program, the database, --out and the "
        "log directory");
  }
  for (const auto& a : spec.sbatch_args) {
    require_one_line("--sbatch-arg", a);
    if (a.size() < 2 || a[0] != '-') {
      throw ConfigError(
          fmt::format("slurm: --sbatch-arg \"{}\" is not an sbatch option (give each as one word: "
                      "--sbatch-arg=--partition=long)",
                      a));
    }
  }
  for (const auto& g : spec.globals) require_one_line("the option", g);
  for (const auto& c : spec.comments) require_one_line("the comment", c);
  require_one_line("the database", spec.database);
  require_one_line("the path", spec.out_dir.string());
  require_one_line("the path", spec.log_dir.string());
  require_one_line("the path", spec.contimg.string());
  require_one_line("--time-limit", spec.time_limit);

  std::ostringstream s;
  s << "#!/bin/bash\n";
  s << "# contimg Slurm pilots (docs/scale-out.md \"Slurm\"): " << spec.workers
    << " worker(s) draining the job queue; each exits 0 once the queue has held no job for "
    << seconds_text(spec.exit_when_idle_s) << " s.\n";
  for (const auto& c : spec.comments) s << "# " << c << "\n";
  const auto log = [&](const char* ext) {
    // sbatch expands %x in file names: a literal % of the directory is %%.
    std::string dir;
    for (char c : spec.log_dir.string()) dir += c == '%' ? std::string("%%") : std::string(1, c);
    return (fs::path(dir) / fmt::format("{}-%A_%a.{}", spec.job_name, ext)).string();
  };
  const auto directive = [&](const std::string& arg) {
    s << "#SBATCH " << sbatch_directive_quote(arg) << "\n";
  };
  directive("--job-name=" + spec.job_name);
  directive(fmt::format("--array=0-{}", spec.workers - 1));
  directive("--output=" + log("out"));
  directive("--error=" + log("err"));
  if (!spec.time_limit.empty()) directive("--time=" + spec.time_limit);
  // After ours: a pass-through argument given twice wins (sbatch keeps the last).
  for (const auto& a : spec.sbatch_args) directive(a);

  std::vector<std::string> argv{spec.contimg.string()};
  argv.insert(argv.end(), spec.globals.begin(), spec.globals.end());
  for (const char* a : {"--json", "worker", "--db"}) argv.emplace_back(a);
  argv.push_back(spec.database);
  argv.emplace_back("--out");
  argv.push_back(spec.out_dir.string());
  argv.emplace_back("--exit-when-idle");
  argv.push_back(seconds_text(spec.exit_when_idle_s));
  s << "exec";
  for (const auto& a : argv) s << " " << shell_quote(a);
  s << "\n";
  return s.str();
}

SbatchJob parse_sbatch_parsable(std::string_view output) {
  std::istringstream in{std::string(output)};
  std::string line;
  std::optional<SbatchJob> job;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    const auto semi = line.find(';');
    const std::string id = line.substr(0, semi);
    if (id.empty() || !std::all_of(id.begin(), id.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      continue;  // a warning or a message, not the id
    }
    job = SbatchJob{id, semi == std::string::npos ? "" : line.substr(semi + 1)};
  }
  if (!job) {
    throw IoError(
        fmt::format("sbatch --parsable printed no job id: {}",
                    output.empty() ? std::string("(nothing)") : last_lines(std::string(output))));
  }
  return *job;
}

fs::path find_sbatch(const std::string& sbatch) {
  const auto program = find_in_path(sbatch);
  if (!program) {
    throw ConfigError(fmt::format(
        "slurm: {} not found (in PATH): Slurm's client commands must be installed on this "
        "machine (Debian slurm-client) to submit pilots",
        sbatch));
  }
  return *program;
}

SbatchJob run_sbatch(const std::string& sbatch, const fs::path& script,
                     std::chrono::seconds timeout) {
  const fs::path program = find_sbatch(sbatch);
  const ProcessResult r = run_process({program.string(), "--parsable", script.string()}, timeout);
  if (r.timed_out) {
    throw IoError(fmt::format("slurm: {} --parsable {} did not answer within {} s",
                              program.string(), script.string(), timeout.count()));
  }
  if (r.exit_code != 0) {
    const std::string why = last_lines(r.output);
    // sbatch exits 1 for everything: its message says whether the controller
    // was out of reach (a retry may help) or the job was refused (it will not).
    bool transient = false;
    for (const char* w :
         {"Unable to contact", "Socket timed out", "temporarily unable", "not responding",
          "Zero Bytes were transmitted", "Connection refused", "munge"}) {
      transient |= contains_no_case(why, w);
    }
    const std::string msg =
        fmt::format("slurm: {} --parsable {} failed (exit {}): {}", program.string(),
                    script.string(), r.exit_code, why.empty() ? "no message" : why);
    if (transient) throw IoError(msg);
    throw ConfigError(msg);
  }
  return parse_sbatch_parsable(r.output);
}

}  // namespace contimg::service
