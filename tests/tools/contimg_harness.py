"""What the integration checks share: a PASS/FAIL counter that ends with the
"N passed, M failed" line, and the real program run with an isolated set of
tiers (data, stage, scratch, tmpfs under the work directory) and no CONTIMG_*
variables from the caller's environment."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time


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


# ---- what a run left behind (shared by the fault and service checks)

def temporaries(root):
    """Every .contimg-tmp-* path under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            if n.startswith(".contimg-tmp-"):
                found.append(os.path.join(dirpath, n))
    return found


def processes_mentioning(text, name="wsclean"):
    """Live (not zombie) processes called `name` whose command line mentions text."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] == "Z":
            continue
        if name in stat[stat.find("(") + 1:stat.rfind(")")] and text in cmdline:
            out.append(int(d))
    return out


def read_token(path):
    """The identity token inside a directory product, or None."""
    try:
        with open(os.path.join(path, "contimg.product.json")) as f:
            return json.load(f).get("token")
    except (OSError, ValueError):
        return None


def product_mismatches(rows, out):
    """Checks every entry at a final product path of the tree `out` against the
    products rows [(path, token, size_bytes, mtime_ns)]: (paths looked at,
    entries without a matching record, records whose path is gone).
    ms/: the MS and the calibration tables (directories); products/<group>/:
    images, quick-look, catalogues, report. Diagnostics are no products: the
    solve's plots beside the tables and WSClean's log."""
    recs = {r[0]: r[1:] for r in rows}
    paths = [p for p in glob.glob(os.path.join(out, "ms", "*")) if os.path.isdir(p)]
    paths += [p for p in glob.glob(os.path.join(out, "products", "*", "*"))
              if not os.path.basename(p).startswith(".") and not p.endswith(".log")]
    bad = []
    for p in sorted(paths):
        rec = recs.get(os.path.abspath(p))
        if rec is None:
            bad.append(f"{p}: no record")
        elif os.path.isdir(p):
            if rec[0] is None or read_token(p) != rec[0]:
                bad.append(f"{p}: token {read_token(p)} != {rec[0]}")
        else:
            st = os.stat(p)
            if (st.st_size, st.st_mtime_ns) != (rec[1], rec[2]):
                bad.append(f"{p}: size/mtime {(st.st_size, st.st_mtime_ns)} != {tuple(rec[1:])}")
    missing = [p for p in recs if not os.path.exists(p)]
    return paths, bad, missing


def stop_with_sigterm(p, log, timeout=60):
    """SIGTERM to the process p (its stderr going to the open file log); waits
    (killing it after `timeout`), closes log; the seconds it took to exit."""
    t = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    log.close()
    return time.time() - t
