"""What the integration checks share: a PASS/FAIL counter that ends with the
"N passed, M failed" line, and the real program run with an isolated set of
tiers (data, stage, scratch, tmpfs under the work directory) and no CONTIMG_*
variables from the caller's environment."""
import json
import os
import shutil
import subprocess
import tempfile


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


# A small filesystem for disk-full cases (root: mount -t tmpfs).
def tmpfs(size_bytes):
    """(mount point, "") or (None, why) when mounting is not permitted."""
    d = tempfile.mkdtemp(prefix="contimg-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", d], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        return None, r.stderr.strip()
    return d, ""


def umount(d):
    subprocess.run(["umount", "-l", d], capture_output=True)  # lazy: a killed writer may still hold it
    shutil.rmtree(d, ignore_errors=True)


def free_bytes(d):
    st = os.statvfs(d)
    return st.f_bavail * st.f_frsize


def fill_up(path, leave=0):
    """Another writer takes the free space of path's filesystem, leaving about `leave` bytes."""
    with open(path, "wb", buffering=0) as f:
        want = free_bytes(os.path.dirname(path)) - leave
        while want > 0:  # a tmpfs may refuse the last pages of an allocation: ask for less
            try:
                os.posix_fallocate(f.fileno(), 0, want)
                break
            except OSError:
                want -= 64 * 1024
        if leave == 0:  # and the last crumbs
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
