#include "service/slurm.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/subprocess.h"
#include "support/error_of.h"
#include "support/tiny_uvh5.h"

namespace contimg::service {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void write_executable(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  fs::permissions(p, fs::perms::owner_all);
}

PilotScriptSpec example() {
  PilotScriptSpec s;
  s.contimg = "/opt/contimg/bin/contimg";
  s.globals = {"--config", "/etc/contimg.toml", "--set", "imaging.niter=1000"};
  s.database = "postgresql://contimg@dbhost:5432/contimg";
  s.out_dir = "/stage/reproc";
  s.workers = 3;
  s.exit_when_idle_s = 120;
  s.time_limit = "12:00:00";
  s.log_dir = "/stage/reproc/slurm";
  s.sbatch_args = {"--partition=long", "--cpus-per-task=8"};
  s.comments = {"Range 2025-03-01 .. 2025-03-31."};
  return s;
}

TEST(SlurmPilotScript, HoldsTheArrayItsOutputFilesAndOneWorkerCommand) {
  const auto lines = lines_of(pilot_script(example()));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front(), "#!/bin/bash");
  const std::vector<std::string> directives = {
      "#SBATCH --job-name=contimg-pilot",
      "#SBATCH --array=0-2",
      "#SBATCH --output=/stage/reproc/slurm/contimg-pilot-%A_%a.out",
      "#SBATCH --error=/stage/reproc/slurm/contimg-pilot-%A_%a.err",
      "#SBATCH --time=12:00:00",
      "#SBATCH --partition=long",
      "#SBATCH --cpus-per-task=8"};
  std::vector<std::string> found;
  std::size_t last_comment = 0, commands = 0, exec_line = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("#SBATCH ", 0) == 0) found.push_back(lines[i]);
    if (!lines[i].empty() && lines[i][0] == '#') last_comment = i;
    if (!lines[i].empty() && lines[i][0] != '#') {
      ++commands;
      exec_line = i;
    }
  }
  // In this order (a pass-through argument after ours wins), all before the
  // first command: sbatch reads directives only up to there.
  EXPECT_EQ(found, directives);
  EXPECT_EQ(commands, 1u);
  EXPECT_GT(exec_line, last_comment);
  EXPECT_EQ(lines[exec_line],
            "exec /opt/contimg/bin/contimg --config /etc/contimg.toml --set imaging.niter=1000 "
            "--json worker --db postgresql://contimg@dbhost:5432/contimg --out /stage/reproc "
            "--exit-when-idle 120");
  EXPECT_THAT(pilot_script(example()), HasSubstr("# Range 2025-03-01 .. 2025-03-31.\n"));
}

TEST(SlurmPilotScript, NoTimeLimitDirectiveUnlessGivenAndFractionalIdleSecondsKept) {
  auto s = example();
  s.time_limit.clear();
  s.sbatch_args.clear();
  s.exit_when_idle_s = 2.5;
  s.workers = 1;
  const std::string text = pilot_script(s);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("--time")));
  EXPECT_THAT(text, HasSubstr("#SBATCH --array=0-0\n"));
  EXPECT_THAT(text, HasSubstr("--exit-when-idle 2.5\n"));
}

TEST(SlurmPilotScript, RefusesWhatAScriptCannotCarry) {
  auto s = example();
  s.workers = 0;
  EXPECT_THAT(test::error_of<ConfigError>([&] { pilot_script(s); }), HasSubstr("--workers 0"));
  s = example();
  s.exit_when_idle_s = 0;
  EXPECT_THAT(test::error_of<ConfigError>([&] { pilot_script(s); }), HasSubstr("--exit-when-idle"));
  s = example();
  s.sbatch_args = {"long"};
  EXPECT_THAT(test::error_of<ConfigError>([&] { pilot_script(s); }),
              HasSubstr("\"long\" is not an sbatch option"));
  s = example();
  s.globals.push_back("--set");
  s.globals.push_back("a=1\nrm -rf /");  // would become a command of its own
  EXPECT_THAT(test::error_of<ConfigError>([&] { pilot_script(s); }), HasSubstr("line break"));
  s = example();
  s.comments = {"x\ny"};
  EXPECT_THAT(test::error_of<ConfigError>([&] { pilot_script(s); }), HasSubstr("line break"));
}

TEST(SlurmPilotScript, PercentInTheOutputDirectoryIsLiteralForSbatch) {
  auto s = example();
  s.log_dir = "/stage/100%/slurm";
  EXPECT_THAT(pilot_script(s),
              HasSubstr("#SBATCH --output=/stage/100%%/slurm/contimg-pilot-%A_%a.out"));
}

TEST(SlurmShellQuote, QuotesOnlyWhatBashWouldSplitOrExpand) {
  EXPECT_EQ(shell_quote("paths.tmpfs_dir=/dev/shm"), "paths.tmpfs_dir=/dev/shm");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
  EXPECT_EQ(shell_quote(""), "''");
}

// Bash itself runs the script's command: the program gets exactly the argv
// the spec holds, whatever its characters.
TEST(SlurmPilotScript, BashPassesEveryArgumentUnchanged) {
  test::TempDir tmp;
  const fs::path echo_args = tmp / "echo args";  // a space in the program's path too
  write_executable(echo_args, "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n");
  auto s = example();
  s.contimg = echo_args;
  s.globals = {"--set", "paths.tmpfs_dir=/tmp/a b", "--set", "x=it's $HOME `id` \"q\" * ; #"};
  s.out_dir = tmp / "out dir";
  const fs::path script = tmp / "pilot.sh";
  std::ofstream(script) << pilot_script(s);
  const auto r = run_process({"bash", script.string()}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string want =
      "[--set]\n[paths.tmpfs_dir=/tmp/a b]\n[--set]\n[x=it's $HOME `id` \"q\" * ; #]\n"
      "[--json]\n[worker]\n[--db]\n[postgresql://contimg@dbhost:5432/contimg]\n"
      "[--out]\n[" +
      (tmp / "out dir").string() + "]\n[--exit-when-idle]\n[120]\n";
  EXPECT_EQ(r.output, want);
}

// sbatch's reading of an #SBATCH line (src/sbatch/opt.c _get_argument): quotes
// group words, a backslash escapes the next character, an unquoted # ends the
// line. A pass-through argument with those characters survives as one word.
std::vector<std::string> sbatch_words(const std::string& line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string w;
    bool quoted = false, escape = false, any = false;
    char q = 0;
    for (; i < line.size() && (quoted || !std::isspace(static_cast<unsigned char>(line[i]))); ++i) {
      const char c = line[i];
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
        continue;
      } else if (quoted) {
        if (c == q) {
          quoted = false;
          continue;
        }
      } else if (c == '"' || c == '\'') {
        quoted = true;
        q = c;
        continue;
      } else if (c == '#') {
        i = line.size();
        break;
      }
      w += c;
      any = true;
    }
    if (any) words.push_back(w);
  }
  return words;
}

TEST(SlurmDirectiveQuote, OneWordAsSbatchReadsIt) {
  for (const std::string a : {"--partition=long", "--comment=two words", "--comment=it's \"x\" #1",
                              "--comment=back\\slash", "--constraint=a|b&c"}) {
    const std::string q = sbatch_directive_quote(a);
    EXPECT_EQ(sbatch_words(q), std::vector<std::string>{a}) << q;
  }
  EXPECT_EQ(sbatch_directive_quote("--partition=long"), "--partition=long");
  EXPECT_EQ(sbatch_directive_quote("--comment=two words"), "\"--comment=two words\"");
}

TEST(SlurmSbatch, TheJobIdIsTheLastParsableLine) {
  EXPECT_EQ(parse_sbatch_parsable("4242\n").job_id, "4242");
  const auto j = parse_sbatch_parsable("sbatch: warning: something\n77;cluster1\n");
  EXPECT_EQ(j.job_id, "77");
  EXPECT_EQ(j.cluster, "cluster1");
  EXPECT_THAT(test::error_of<IoError>([] { parse_sbatch_parsable(""); }), HasSubstr("no job id"));
  EXPECT_THAT(test::error_of<IoError>([] { parse_sbatch_parsable("sbatch: error: x\n"); }),
              HasSubstr("sbatch: error: x"));
}

// run_sbatch's side of the contract, with stand-in programs (the real sbatch
// runs in the slurm_pilots integration test): the arguments it passes, and
// which failures a retry may cure.
TEST(SlurmSbatch, RunsSbatchParsableAndClassifiesItsFailures) {
  test::TempDir tmp;
  const fs::path script = tmp / "pilots.sh";
  std::ofstream(script) << "#!/bin/bash\n";
  const fs::path ok = tmp / "sbatch-ok";
  write_executable(ok, "#!/bin/sh\n[ \"$1\" = --parsable ] && [ \"$2\" = '" + script.string() +
                           "' ] && [ $# -eq 2 ] || { echo bad args \"$@\" >&2; exit 1; }\n"
                           "echo 'sbatch: warning: a warning' >&2\necho 1234\n");
  EXPECT_EQ(run_sbatch(ok.string(), script).job_id, "1234");

  const fs::path refused = tmp / "sbatch-refused";
  write_executable(refused,
                   "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: "
                   "Invalid partition name specified' >&2\nexit 1\n");
  EXPECT_THAT(test::error_of<ConfigError>([&] { run_sbatch(refused.string(), script); }),
              HasSubstr("Invalid partition name"));
  const fs::path down = tmp / "sbatch-down";
  write_executable(down,
                   "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Unable to "
                   "contact slurm controller (connect failure)' >&2\nexit 1\n");
  EXPECT_THAT(test::error_of<IoError>([&] { run_sbatch(down.string(), script); }),
              HasSubstr("Unable to contact slurm controller"));
  EXPECT_THAT(test::error_of<ConfigError>([&] { run_sbatch("contimg-no-such-sbatch", script); }),
              HasSubstr("contimg-no-such-sbatch not found"));
}

}  // namespace
}  // namespace contimg::service
