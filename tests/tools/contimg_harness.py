"""What the integration checks share: a PASS/FAIL counter that ends with the
"N passed, M failed" line, and the real program run with an isolated set of
tiers (data, stage, scratch, tmpfs under the work directory) and no CONTIMG_*
variables from the caller's environment."""
import json
import os
import subprocess


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return ok

    def summary(self):
        """Prints the closing line; the exit status: 1 when a check failed or none ran."""
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.passed and not self.failed else 1


class Contimg:
    def __init__(self, binary, data, work, timeout=600):
        self.binary = binary
        self.timeout = timeout
        self.globals = ["--progress", "quiet",
                        "--set", "paths.data_dir=" + data,
                        "--set", "paths.stage_dir=" + os.path.join(work, "stage-tier"),
                        "--set", "paths.scratch_dir=" + os.path.join(work, "stage-tier", "scratch"),
                        "--set", "paths.tmpfs_dir=" + os.path.join(work, "tmpfs")]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
        self.env.pop("HDF5_PLUGIN_PATH", None)

    def run(self, sub, args, json_out=True):
        """The completed process, with .json the parsed stdout (or None)."""
        cmd = [self.binary] + self.globals + (["--json"] if json_out else []) + [sub] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=self.timeout)
        p.json = None
        if json_out and p.stdout.strip().startswith("{"):
            try:
                p.json = json.loads(p.stdout)
            except ValueError:
                pass
        return p

    def simulate(self, out_dir, start, seed):
        p = self.run("simulate", [out_dir, "--size", "tiny", "--seed", str(seed), "--start", start])
        if p.returncode != 0:
            raise RuntimeError("simulate %s failed (exit %d): %s" % (out_dir, p.returncode, p.stderr[-2000:]))

    def convert(self, inp, out, db, *extra, start, end):
        return self.run("convert", [inp, out, start, end, "--db", db] + list(extra))


def describe(p):
    """Exit status and the last line of stderr, for a failed check's detail."""
    return "exit %d; %s" % (p.returncode, (p.stderr.strip().splitlines() or [""])[-1][:400])
