"""bench.py: nnc against PyTorch, NumPy and the machine; `make bench` runs it.

    /usr/bin/python3 bench/bench.py [--runs N] [--only spiral,fashion,large,lenet] [--out FILE]

Run from the repository root once build/nnc, build/libnnrt.a and the
tools under build/bench/ are built (the Makefile's bench target builds
them and installs the peers' packages first).  In order:

  1. nnc's compile time for every model (hyperfine, median of 30 runs);
  2. per workload: the trainer built by nnc, its initial params exported
     (`--epochs 0 --save`), the spiral rows exported (spiral_export); a
     warm-up round that also checks the peers' initial loss against nnc's
     and records the loss curves (--log-csv); then N rounds in which the
     systems take turns (nnc, torch, numpy, nnc, ...) so drift hits all
     alike; the tables show medians;
  3. GFLOP/s of the step's GEMMs: nnc and the peers against BLIS's and OpenBLAS's sgemm
     on the same shapes (sgemm) and the FMA peak of one core (fma_peak);
     for LeNet (models/lenet.nn on MNIST, data/mnist: make mnist; one
     epoch of its five, nnc against PyTorch), where the GEMMs are the
     convolutions' im2col products, instead the share of the training step
     that GEMM, im2col and col2im take (perf record over a profile build);
  4. bench/RESULTS.md, and the same tables on stdout.

Times are measured, never asserted: ratios are against nnc in the same
run.  Wall time and peak RSS come from runone (bench/runone.c: fork,
exec, wait, ru_maxrss -- the figure `/usr/bin/time -f %M` prints, with a
finer clock); training time from each program's own summary line
("done: ... steps in T s").  A run longer than LIMIT seconds is killed and
its system skipped in the later rounds.
"""
import argparse
import csv
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

ROOT = peerlib.ROOT
BUILD = os.path.join(ROOT, "build", "bench")
WORK = os.path.join(BUILD, "work")
NNC = os.path.join(ROOT, "build", "nnc")
PY = "/usr/bin/python3"
LIMIT = 60          # seconds a run may take
SPIRAL_LONG = 100   # the spiral's per-step time comes from a run this many times longer
BASE = ("nnc", "PyTorch", "NumPy")

# threads: the thread counts measured; avx512_peers: also run the peers
# with OpenBLAS forced to its AVX-512 kernels (one thread); cnn: a
# convolutional model (PyTorch peer only, no sgemm table, a perf profile),
# trained for `epochs` of its epochs, each run allowed `limit` seconds.
WORKLOADS = {
    "spiral": {"model": "twolayer", "threads": [1], "avx512_peers": False},
    "fashion": {"model": "fashion_relu", "threads": [1, 2], "avx512_peers": True},
    "large": {"model": "mlp_large", "threads": [1], "avx512_peers": False},
    "lenet": {"model": "lenet", "threads": [1], "avx512_peers": False, "cnn": True, "epochs": 1, "limit": 600,
              # multiply-adds an image: forward conv1 6·784·25 = 117,600, conv2 16·100·150 = 240,000, dense
              # 400·120 + 120·84 + 84·10 = 58,920; backward the same again for dW, and for dX but conv1's
              "gemm_flops_per_row": 2 * (2 * (117600 + 240000 + 58920) + 240000 + 58920)},
}

# "done: 300 epochs, 3000 steps in 0.02s (6.81 us a step) | loss 0.1232 | acc 0.9633 [| test ...]"
DONE = re.compile(r"done: (\d+) epochs?, (\d+) steps? in ([0-9.]+)s(?: \(([0-9.]+) us a step(?:, \d+ threads)?\))?[^|]*"
                  r"\| loss (\S+)(?: \| acc (\S+))?(?: \| test loss (\S+))?(?: \| test acc (\S+))?")
INIT = re.compile(r"init: loss (\S+) \| acc (\S+)")


class Failed(Exception):
    pass


class TimedOut(Exception):
    pass


# ---- running one program ----------------------------------------------------
def thread_env(n, **extra):
    return dict(os.environ, OPENBLAS_NUM_THREADS=str(n), OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n), **extra)


def spawn(argv, env, log, limit=LIMIT):
    """Runs argv under runone, stdout and stderr into log: (wall s, peak RSS
    KB, output).  runone times it and reads its RSS from a small process:
    spawned from here, the child would carry this interpreter's RSS.  It
    runs in a session of its own, killed as a group after `limit` s."""
    figures = log + ".fig"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    runone = [os.path.join(BUILD, "runone"), figures, *argv]
    pid = os.posix_spawn(runone[0], runone, env, setsid=True,
                         file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
    os.close(fd)
    pidfd = os.pidfd_open(pid)
    finished = select.select([pidfd], [], [], limit)[0]
    os.close(pidfd)
    if not finished:
        os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not finished:
        raise TimedOut(f"{' '.join(argv)}: killed after {limit} s")
    with open(log) as f:
        out = f.read()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise Failed(f"{' '.join(argv)} exited {rc}:\n{out[-2000:]}")
    with open(figures) as f:
        wall, rss = f.read().split()
    return float(wall), int(rss), out


def summary(out, argv):
    """The summary line's figures; the training time from its time per
    step where it prints one (more digits than its seconds)."""
    m = DONE.search(out)
    if not m:
        raise Failed(f"{' '.join(argv)}: no summary line in its output:\n{out[-2000:]}")
    f = [float(v) if v is not None else None for v in m.groups()]
    r = {"epochs": int(f[0]), "steps": int(f[1]), "train": f[2], "loss": f[4], "acc": f[5],
         "test_loss": f[6], "test_acc": f[7], "precise": f[3] is not None}
    if f[3] is not None:
        r["train"] = f[3] * 1e-6 * r["steps"]
    return r


def run(cmd, log):
    """One run of a system: its summary plus wall and RSS."""
    wall, rss, out = spawn(cmd["argv"], cmd["env"], log, cmd.get("limit", LIMIT))
    r = summary(out, cmd["argv"])
    r.update(wall=wall, rss=rss / 1024.0)
    m = INIT.search(out)
    if m:
        r["init_loss"] = float(m.group(1))
    return r


def check_output(argv, env=None):
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout


# ---- the machine ------------------------------------------------------------
def has_avx512():
    """Whether this CPU runs AVX-512 (OpenBLAS's SkylakeX kernels)."""
    with open("/proc/cpuinfo") as f:
        flags = re.search(r"flags\s*: (.*)", f.read())
    return bool(flags) and "avx512f" in flags.group(1).split()


def machine():
    info = {"cpu": "unknown", "cores": os.cpu_count()}
    with open("/proc/cpuinfo") as f:
        text = f.read()
    m = re.search(r"model name\s*: (.*)", text)
    if m:
        info["cpu"] = m.group(1).strip()
    fam = re.search(r"cpu family\s*: (\d+)", text)
    mod = re.search(r"^model\s*: (\d+)", text, re.M)
    if fam and mod:
        info["cpu"] += f" (family {fam.group(1)}, model {mod.group(1)})"
    info["avx512"] = has_avx512()
    info["cc"] = check_output([os.environ.get("CC", "cc"), "--version"]).splitlines()[0]
    info["python"] = check_output([PY, "-c", "import sys, torch, numpy; print(sys.version.split()[0], "
                                   "torch.__version__, numpy.__version__)"]).split()
    info["nnc"] = check_output(["git", "-C", ROOT, "describe", "--always", "--dirty"]).strip()
    info["kernel"] = os.uname().release
    info["blas_env"] = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_"))
    return info


# ---- nnc's compile time -----------------------------------------------------
def compile_times():
    """{model path: (median ms, min ms)} of `nnc MODEL -o X.c`."""
    models = sorted(os.path.join(d, f) for d in ("models", "bench/models")
                    for f in os.listdir(os.path.join(ROOT, d)) if f.endswith(".nn"))
    out_dir = os.path.join(BUILD, "cc")
    os.makedirs(out_dir, exist_ok=True)
    cmds = [f"{NNC} {m} -o {out_dir}/{os.path.basename(m)[:-3]}.c" for m in models]
    times = {}
    if shutil.which("hyperfine"):
        js = os.path.join(WORK, "compile.json")
        check_output(["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", js, *cmds])
        with open(js) as f:
            for m, res in zip(models, json.load(f)["results"]):
                times[m] = (res["median"] * 1e3, res["min"] * 1e3)
        return times
    for m, c in zip(models, cmds):
        walls = [spawn(c.split(), dict(os.environ), os.path.join(WORK, "cc.log"))[0] * 1e3 for _ in range(30)]
        times[m] = (statistics.median(walls), min(walls))
    return times


# ---- one workload -----------------------------------------------------------
def gemm_flops(dims, rows):
    """The step's GEMM flops for `rows` rows: forward, dW, and dX but for
    the first layer (see sgemm.c)."""
    return sum(2 * rows * a * b * (2 if l == 0 else 3) for l, (a, b) in enumerate(zip(dims, dims[1:])))


def prepare(key):
    """Builds the trainer and exports its initial params (and spiral rows)."""
    w = dict(WORKLOADS[key], key=key)
    model = w["model"]
    w.update(peerlib.read_model(model))
    w["nn"] = peerlib.MODELS[model][0]
    w["trainer"] = os.path.join(BUILD, model)
    w["build_cmd"] = [NNC, w["nn"], "-o", w["trainer"]]
    subprocess.run(w["build_cmd"], cwd=ROOT, check=True)
    w["init"] = os.path.join(WORK, model + ".init.safetensors")
    w["init_cmd"] = [w["trainer"], "--epochs", "0", "--quiet", "--save", w["init"]]
    _, _, out = spawn(w["init_cmd"], thread_env(1), os.path.join(WORK, model + ".init.log"))
    w["nnc_init"] = summary(out, w["init_cmd"])
    w["spiral"] = None
    if w["data"]["kind"] == "spiral":
        d = w["data"]
        w["spiral"] = os.path.join(WORK, model + ".spiral.bin")
        check_output([os.path.join(BUILD, "spiral_export"), str(d["classes"]), str(d["points"]),
                      str(d["seed"]), w["spiral"]])
    if w.get("cnn"):
        w["dims"] = None
        w["full_epochs"], w["epochs"] = w["epochs"], WORKLOADS[key]["epochs"]
        return w
    init = peerlib.read_safetensors(w["init"])  # the layer widths [in, out, ...]
    w["dims"] = [init[w["layers"][0][0]].shape[0]] + [init[W].shape[1] for W, _, _ in w["layers"]]
    return w


def systems(w, threads):
    """The commands of one round at a thread count, nnc first."""
    peer_args = [w["model"], "--init", w["init"], "--threads", str(threads)]
    if w["spiral"]:
        peer_args += ["--spiral", w["spiral"]]
    nnc = [w["trainer"], "--quiet"]
    if w.get("cnn"):  # part of the model's epochs, the same for every system
        peer_args += ["--epochs", str(w["epochs"])]
        nnc += ["--epochs", str(w["epochs"])]
    torch = [PY, os.path.join(ROOT, "bench", "peer_torch.py"), *peer_args]
    numpy = [PY, os.path.join(ROOT, "bench", "peer_numpy.py"), *peer_args]
    env = thread_env(threads)
    cmds = [{"name": "nnc", "argv": nnc, "env": env},
            {"name": "PyTorch", "argv": torch, "env": env}]
    if not w.get("cnn"):  # the NumPy peer has dense layers only
        cmds.append({"name": "NumPy", "argv": numpy, "env": env})
    if w["avx512_peers"] and threads == 1 and has_avx512():  # SkylakeX dies of SIGILL elsewhere
        env = thread_env(threads, OPENBLAS_CORETYPE="SkylakeX")
        cmds += [{"name": "PyTorch, OpenBLAS SkylakeX", "argv": torch, "env": env, "blas": "SkylakeX"},
                 {"name": "NumPy, OpenBLAS SkylakeX", "argv": numpy, "env": env, "blas": "SkylakeX"}]
    if w["key"] == "spiral":
        epochs = str(w["epochs"] * SPIRAL_LONG)
        cmds.append({"name": f"nnc, {epochs} epochs", "argv": [w["trainer"], "--quiet", "--epochs", epochs],
                     "env": thread_env(threads), "long": True})
    for c in cmds:
        c["threads"] = threads
        c["limit"] = w.get("limit", LIMIT)
    return cmds


def warm_up(w, cmds, dead):
    """Round 0, not measured: checks the peers' initial loss and records
    the loss curves of nnc and the two peers."""
    curves = {}
    for c in cmds:
        log = os.path.join(WORK, "warmup.log")
        if c["name"] not in BASE:
            try_run(c, log, dead)
            continue
        path = os.path.join(WORK, f"{w['model']}.{c['name']}.{c['threads']}.csv")
        extra = ["--log-csv", path] + ([] if c["name"] == "nnc" else ["--check-init"])
        r = try_run(dict(c, argv=c["argv"] + extra), log, dead, c["name"])
        if r is None:
            continue
        with open(path) as f:
            curves[c["name"]] = [float(row["loss"]) for row in csv.DictReader(f)]
        curves[c["name"] + " init"] = r.get("init_loss", w["nnc_init"]["loss"])
    return curves


def try_run(cmd, log, dead, name=None):
    """run(), or None after a time-out, which marks the system dead."""
    try:
        return run(cmd, log)
    except TimedOut as e:
        print(f"  {e}", flush=True)
        dead.add((name or cmd["name"], cmd["threads"]))
        return None


def measure(w, runs):
    """Every thread count's rounds: ({(name, threads): [run, ...]}, the
    systems in order, the systems timed out, the loss curves)."""
    res, order, dead, curves = {}, [], set(), None
    for threads in w["threads"]:
        cmds = systems(w, threads)
        order += cmds
        c = warm_up(w, cmds, dead)
        curves = curves or c
        for i in range(runs):
            for cmd in cmds:
                key = (cmd["name"], threads)
                if key in dead:
                    continue
                r = try_run(cmd, os.path.join(WORK, "run.log"), dead)
                if r is None:
                    continue
                res.setdefault(key, []).append(r)
                print(f"  {w['key']} round {i + 1}/{runs}: {cmd['name']} x{threads}: "
                      f"wall {r['wall']:.3f}s train {r['train']:.3f}s", flush=True)
    return res, order, dead, curves


def medians(runs):
    m = {k: statistics.median(r[k] for r in runs) for k in ("wall", "train", "rss")}
    t = [r["train"] for r in runs]
    m["spread"] = (max(t) - min(t)) / m["train"] * 100 if m["train"] > 0 else 0.0
    last = runs[-1]
    m.update({k: last[k] for k in ("epochs", "steps", "loss", "acc", "test_loss", "test_acc")})
    m["n"] = len(runs)
    return m


def workload_rows(w, res, order, dead):
    """One row per system and thread count, ratios against nnc at the same
    thread count; the spiral's nnc row takes its training time from the
    long run when its summary gives only hundredths of a second."""
    rows, base = [], {}
    longs = [c for c in order if c.get("long") and (c["name"], c["threads"]) in res]
    per_step_long = None
    if longs:
        lm = medians(res[(longs[0]["name"], longs[0]["threads"])])
        per_step_long = lm["train"] / lm["steps"]
    for c in order:
        key = (c["name"], c["threads"])
        if key in dead:
            rows.append({"name": c["name"], "threads": c["threads"], "dead": True})
            continue
        if key not in res:
            continue
        m = medians(res[key])
        m.update(name=c["name"], threads=c["threads"], mark="", dead=False)
        if c["name"] == "nnc" and per_step_long is not None and not res[key][-1]["precise"]:
            m["train"], m["mark"] = per_step_long * m["steps"], "†"
        m["per_step"], m["per_epoch"] = m["train"] / m["steps"], m["train"] / m["epochs"]
        b = base.setdefault(c["threads"], m)
        for k in ("wall", "train", "rss"):
            m["x_" + k] = m[k] / b[k] if b[k] > 0 and not c.get("long") else float("nan")
        rows.append(m)
    return rows


# ---- where a step's time goes -------------------------------------------------
# perf symbols of a build with -fno-inline: OpenBLAS's sgemm pieces (kernel,
# packing, beta), the emitted program's own functions and the runtime's.
PROFILE_PARTS = [("GEMM (the BLAS: its kernels, packing, scaling)", lambda s: s.startswith("sgemm_") or
                  s.startswith("cblas_sgemm") or s.startswith("nnrt_sgemm") or s.startswith("bli_")),
                 ("im2col", lambda s: s.startswith("im2col")),
                 ("col2im", lambda s: s.startswith("col2im") or s.startswith("window_span")),
                 ("exp, tanh, log (nnc_expf, nnc_tanhf, libm)", lambda s: s.split(".")[0] in
                  ("nnc_expf", "nnc_tanhf", "expf", "logf", "tanhf", "__expf_fma", "__logf_fma", "__tanhf_fma")),
                 ("the batch gather (bytes to floats, rows picked by the permutation)",
                  lambda s: s.startswith("nnrt_gather")),
                 ("forward (the rest: bias, activations, pooling, the loss)", lambda s: s == "forward"),
                 ("backward (the rest: activation gradients, bias sums, pooling)", lambda s: s == "backward"),
                 ("update", lambda s: s == "update")]


def profile(w):
    """perf record of nnc's trainer rebuilt with -fno-inline (so that im2col,
    col2im and the math functions keep their own symbols): a convolutional
    model on the first 12,800 training images for one epoch, a dense one on
    its whole data for one epoch, the spiral for 30 times its epochs.  The
    share of each part, or None where perf is missing or fails."""
    if not shutil.which("perf"):
        return None
    src, prog, data = (os.path.join(WORK, w["model"] + s) for s in (".prof.c", ".prof", ".perf"))
    subprocess.run([NNC, w["nn"], "-o", src], cwd=ROOT, check=True)
    cflags = check_output([NNC, "--cflags"]).split()
    libs = check_output([NNC, "--libs"]).split()
    cc = [os.environ.get("CC", "cc"), "-std=c99", *DEFAULT_FLAGS, "-fno-inline", *cflags, "-o", prog, src, *libs]
    subprocess.run(cc, check=True)
    if w["spiral"]:
        argv = [prog, "--quiet", "--epochs", str(30 * int(w["epochs"]))]
    elif not w.get("cnn"):
        argv = [prog, "--quiet", "--epochs", "1"]
    else:
        sub = []
        for src_key, n in (("data", 12800), ("test", 1000)):
            d = w[src_key]
            for part in ("images", "labels"):
                path = os.path.join(WORK, f"{w['model']}.{src_key}.{part}")
                raw = peerlib.read_idx_raw(d[part])
                with open(path, "wb") as f:
                    f.write(peerlib.idx_head(raw, n))
                sub.append(path)
        argv = [prog, "--quiet", "--epochs", "1", "--data", f"{sub[0]},{sub[1]}", "--test", f"{sub[2]},{sub[3]}"]
    try:
        subprocess.run(["perf", "record", "-q", "-o", data, "--", *argv], env=thread_env(1), cwd=ROOT,
                       check=True, capture_output=True)
        rep_txt = check_output(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol", "--stdio",
                                "--percent-limit", "0"])
    except subprocess.CalledProcessError:
        return None
    shares = {name: 0.0 for name, _ in PROFILE_PARTS}
    total = 0.0
    for line in rep_txt.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[\.\]\s+(\S+)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        total += pct
        if dso.startswith(("libblis", "libopenblas")):  # BLIS's kernels have no exported symbols
            sym = "sgemm_" + sym
        for name, match in PROFILE_PARTS:
            if match(sym):
                shares[name] += pct
                break
    shares = {k: v for k, v in shares.items() if v >= 0.05}
    shares["other (data loading, evaluation's extras, libc)"] = max(0.0, total - sum(shares.values()))
    return {"shares": shares, "argv": " ".join(argv).replace(ROOT + "/", "")}


def profile_md(p):
    rows = [[name, f"{pct:.1f}%"] for name, pct in p["shares"].items()]
    return "\n".join([f"Where nnc's time goes (perf record of `{p['argv']}`, built with -fno-inline so that "
                      "im2col, col2im and the math functions keep their symbols; user-space samples of the whole "
                      "run, data loading and evaluation included):", "", table(["part", "share of the samples"], rows)])


# ---- GFLOP/s ----------------------------------------------------------------
def nnc_blas():
    """The BLAS the runtime was built with (make's build/blas.env)."""
    try:
        with open(os.path.join(ROOT, "build", "blas.env")) as f:
            m = re.search(r"^BLAS='(\w+)'", f.read(), re.M)
            return m.group(1) if m else "openblas"
    except OSError:
        return "openblas"


def sgemm(w, coretype, tool="sgemm"):
    """A BLAS on the step's GEMMs, one thread: tool sgemm is OpenBLAS
    (coretype None: the environment as it is, "": OPENBLAS_CORETYPE unset,
    OpenBLAS's own choice, else forced), sgemm_blis is BLIS."""
    env = thread_env(1)
    if coretype is not None:
        env.pop("OPENBLAS_CORETYPE", None)
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
    out = check_output([os.path.join(BUILD, tool), str(w["batch"]), *map(str, w["dims"])], env=env)
    core = re.search(r"^core (\S+)", out, re.M)
    return {"step": float(re.search(r"^step .* ([0-9.]+) GFLOP/s", out, re.M).group(1)),
            "core": core.group(1) if core else "?",
            "gemms": re.findall(r"^gemm (\S+) (\S+) (\S+) ([0-9.]+) GFLOP/s", out, re.M)}


def sgemm_all(w, info):
    """The library nnc links first (BLIS or OpenBLAS), then OpenBLAS under
    the environment as is, its own choice and, on AVX-512 machines,
    SkylakeX; a core already measured is not repeated."""
    res = []
    if nnc_blas() == "blis" and os.path.exists(os.path.join(BUILD, "sgemm_blis")):
        r = sgemm(w, None, "sgemm_blis")
        r["how"] = "nnc's library"
        res.append(r)
    for coretype in [None, ""] + (["SkylakeX"] if info["avx512"] else []):
        r = sgemm(w, coretype)
        r["how"] = {None: "environment", "": "OpenBLAS's choice"}.get(coretype, "forced")
        if not res and nnc_blas() == "openblas":
            r["how"] += ", nnc's library"
        if r["core"] not in [x["core"] for x in res]:
            res.append(r)
    return res


def fma_peak():
    out = check_output([os.path.join(BUILD, "fma_peak")])
    return float(re.search(r": ([0-9.]+) GFLOP/s", out).group(1)), out.split(":")[0]


# ---- the levers ---------------------------------------------------------------
# Each variant is the trainer's own C file (nnc -o leaves it beside the
# program) built with other flags, so one change at a time is measured
# against nnc as it builds by default, in the same rounds.
DEFAULT_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math"]
VARIANTS = [
    ("nnc as built (-O3 -march=native -fno-trapping-math, vector expf/tanhf)", DEFAULT_FLAGS),
    ("libm's expf/tanhf (-DNNC_LIBM_MATH)", DEFAULT_FLAGS + ["-DNNC_LIBM_MATH"]),
    ("without -march=native", ["-O3", "-fno-math-errno", "-fno-trapping-math"]),
    ("as built before: -O3 -fno-math-errno, libm's expf/tanhf", ["-O3", "-fno-math-errno", "-DNNC_LIBM_MATH"]),
]


def build_variant(w, tag, flags):
    out = f"{w['trainer']}.{tag}"
    cflags = check_output([NNC, "--cflags"]).split()
    libs = check_output([NNC, "--libs"]).split()
    subprocess.run([os.environ.get("CC", "cc"), "-std=c99", *flags, "-o", out, w["trainer"] + ".c", *cflags, *libs],
                   cwd=ROOT, check=True)
    return out


def instructions(prog, epochs):
    """(instructions, steps) of `prog --quiet --epochs N` under callgrind."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", prog, "--quiet",
                        "--epochs", str(epochs)], env=thread_env(1), capture_output=True, text=True, check=True)
    steps = re.search(r"done: \d+ epochs?, (\d+) steps?", r.stdout)
    return int(re.search(r"I\s+refs:\s+([0-9,]+)", r.stderr).group(1).replace(",", "")), int(steps.group(1))


def levers(w, runs):
    """[(variant, min train s, median train s, instructions a step or None)]
    and the 2-thread row's min when the workload has one."""
    progs = [(name, build_variant(w, f"v{i}", flags)) for i, (name, flags) in enumerate(VARIANTS)]
    times = {name: [] for name, _ in progs}
    for _ in range(runs):
        for name, prog in progs:
            _, _, out = spawn([prog, "--quiet"], thread_env(1), os.path.join(WORK, "lever.log"))
            times[name].append(summary(out, [prog])["train"])
    steps = {}
    if w["key"] == "spiral" and shutil.which("valgrind"):
        # valgrind decodes no AVX-512: the callgrind builds take AVX2 (x86-64-v3) where -march=native was
        for i, (name, flags) in enumerate(VARIANTS):
            fl = ["-march=x86-64-v3" if f == "-march=native" else f for f in flags]
            prog = build_variant(w, f"cg{i}", fl)
            full, n = instructions(prog, w["epochs"])
            steps[name] = (full - instructions(prog, 0)[0]) / n
    return [(name, min(times[name]), statistics.median(times[name]), steps.get(name)) for name, _ in progs]


def levers_md(w, lv):
    base = lv[0][1]
    hdr = ["build", "train s (min)", "train s (median)", "min ×nnc as built"]
    if any(x[3] for x in lv):
        hdr.append("instructions a step (callgrind, AVX2)")
    body = []
    for name, mn, med, ins in lv:
        line = [name, fmt(mn, ".4f"), fmt(med, ".4f"), fmt(mn / base, ".2f")]
        if len(hdr) == 5:
            line.append(fmt(ins, ",.0f"))
        body.append(line)
    return table(hdr, body)


def goals_md(ws, rows, lever_res, peak, blas):
    """The figures the speed goals name, from this run, each with what
    bounds it here: the FMA peak, OpenBLAS alone on the same GEMMs, the
    profile's shares."""
    def row(key, name, threads):
        for r in rows.get(key, []):
            if r["name"] == name and r["threads"] == threads and not r["dead"]:
                return r
        return None

    def work(key):
        return next((w for w in ws if w.get("key") == key and "dims" in w), None)

    def share(key, prefix):
        w = work(key)
        p = w and w.get("profile")
        return sum(v for k, v in p["shares"].items() if k.startswith(prefix)) if p else None

    def sgemm_rate(key):  # nnc's library alone on the step's GEMMs
        return blas[key][0]["step"] if blas.get(key) else None
    lib = next((p["core"] for b in blas.values() for p in b[:1]), "the BLAS")
    lib = {"BLIS": "BLIS"}.get(lib, f"OpenBLAS ({lib})")
    body = []
    f1, f2 = row("fashion", "nnc", 1), row("fashion", "nnc", 2)
    t1 = row("fashion", "PyTorch", 1)
    wf = work("fashion")
    if f1 and wf:
        flops = gemm_flops(wf["dims"], wf["batch"]) * f1["steps"] / f1["epochs"]  # an epoch's
        limit, sg = flops / (peak * 1e9), sgemm_rate("fashion")
        why = (f"the GEMM flops alone take {limit:.3f} s an epoch at this core's FMA peak ({peak:.0f} GFLOP/s; "
               f"the target was set on a 229 GFLOP/s core)")
        if sg:
            why += f", {flops / (sg * 1e9):.3f} s at {lib}'s own rate on these GEMMs"
        body.append(["fashion_relu, 1 thread, s/epoch", "≤ 0.12", fmt(f1["per_epoch"], ".4f"), why])
        if t1:
            body.append(["fashion_relu, 1 thread, ×PyTorch", "≥ 2.8", fmt(t1["train"] / f1["train"], ".2f"),
                         f"PyTorch runs OpenBLAS's sgemm, nnc {lib}'s; GEMM is "
                         f"{fmt(share('fashion', 'GEMM'), '.0f')}% of nnc's profile"])
        why = (f"{lib} alone on exactly the step's GEMMs reaches {fmt(sg / peak * 100 if sg else None, '.0f')}% "
               f"of the FMA peak; the profile's GEMM share is {fmt(share('fashion', 'GEMM'), '.0f')}%, the "
               f"gather {fmt(share('fashion', 'the batch gather'), '.0f')}%")
        body.append(["fashion_relu, 1 thread, share of the GEMM limit (GEMM flops at FMA peak)", "≥ 70%",
                     fmt(limit / f1["per_epoch"] * 100, ".0f") + "%", why])
    if f2:
        body.append(["fashion_relu, 2 threads, s/epoch", "≤ 0.07", fmt(f2["per_epoch"], ".4f"),
                     f"{fmt(f1['per_epoch'] / f2['per_epoch'] if f1 else None, '.2f')}× one thread: only the "
                     "products and the gather are split over the threads"])
    s1 = row("spiral", "nnc", 1)
    lv = lever_res.get("spiral")
    ins = lv[0][3] if lv else None
    if s1:
        body.append(["spiral twolayer, µs/step", "≤ 1.0", fmt(s1["per_step"] * 1e6, ".2f"),
                     f"{fmt(ins, ',.0f')} instructions a step at "
                     f"{fmt(ins / (s1['per_step'] * 1e6) if ins else None, ',.0f')} a µs"])
    if ins:
        body.append(["spiral twolayer, instructions a step (callgrind, AVX2 build)", "≤ 15,000", fmt(ins, ",.0f"),
                     f"exp is {fmt(share('spiral', 'exp'), '.0f')}% of the profile, GEMM "
                     f"{fmt(share('spiral', 'GEMM'), '.0f')}% (10 × 3 products: a library call's overhead is "
                     "most of each)"])
    wl, l1 = work("large"), row("large", "nnc", 1)
    if wl and l1:
        rate, sg = gemm_flops(wl["dims"], wl["batch"]) * l1["steps"] / l1["train"] * 1e-9, sgemm_rate("large")
        body.append(["mlp_large, share of FMA peak", "≥ 75%", fmt(rate / peak * 100, ".0f") + "%",
                     f"{lib} alone on exactly the step's GEMMs reaches "
                     f"{fmt(sg / peak * 100 if sg else None, '.0f')}% of the peak"])
    if f1:
        body.append(["fashion_relu test accuracy, peak RSS MB", "0.864 ± 0.002, ≤ 64",
                     f"{fmt(f1['test_acc'], '.4f')}, {fmt(f1['rss'], '.1f')}", ""])
    n1, p1 = row("lenet", "nnc", 1), row("lenet", "PyTorch", 1)
    wn = next((w for w in ws if w.get("key") == "lenet" and w.get("profile")), None)
    if n1 and p1:
        fl = WORKLOADS["lenet"]["gemm_flops_per_row"] * n1["steps"] * (wn or {}).get("batch", 0) / n1["epochs"]
        pr = (wn or {}).get("profile") or {"shares": {}}
        gs = sum(v for k, v in pr["shares"].items() if k.startswith("GEMM"))
        body.append(["lenet, 1 thread, s/epoch ×PyTorch (PyTorch's s/epoch / nnc's)", "≥ 3",
                     fmt(p1["train"] / n1["train"], ".2f"),
                     f"3× is {p1['per_epoch'] / 3:.2f} s an epoch; the GEMM flops alone take "
                     f"{fl / (peak * 1e9):.2f} s at the FMA peak; nnc's GEMMs run at "
                     f"{fmt(fl / (n1['per_epoch'] * gs / 100) * 1e-9 if gs else None, '.1f')} GFLOP/s "
                     f"({fmt(gs, '.0f')}% of the profile; small products, 6 or 16 channels), im2col "
                     f"{fmt(pr['shares'].get('im2col'), '.0f')}%"])
    return table(["goal", "target", "this run", "what bounds it here"], body)


# ---- tables -----------------------------------------------------------------
def fmt(v, spec):
    return "–" if v is None or v != v else format(v, spec)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def workload_md(w, rows, curves):
    o = w["opt"]
    opt = f"{o['kind']}(lr={o['lr']:g})"
    if w.get("cnn"):
        out = [f"## {w['key']}: {w['nn']} (conv5×5×6 pad 2, max pool, conv5×5×16, max pool, 120-84-10; "
               f"{opt}, batch {w['batch']}; {w['epochs']} epoch of its {w['full_epochs']}, so s/epoch is the "
               f"training time)", ""]
    else:
        dims = "-".join(map(str, w["dims"]))
        out = [f"## {w['key']}: {w['nn']} ({dims}, {opt}, batch {w['batch']}, {w['epochs']} epochs)", ""]
    hdr = ["system", "threads", "wall s", "train s", "s/epoch", "µs/step", "peak RSS MB", "loss", "acc",
           "test loss", "test acc", "wall ×nnc", "train ×nnc", "RSS ×nnc", "train spread"]
    body = []
    for r in rows:
        if r["dead"]:
            body.append([r["name"], str(r["threads"]), f"> {LIMIT} (killed)"] + ["–"] * (len(hdr) - 3))
            continue
        body.append([r["name"], str(r["threads"]), fmt(r["wall"], ".3f"), fmt(r["train"], ".4f") + r["mark"],
                     fmt(r["per_epoch"], ".4f"), fmt(r["per_step"] * 1e6, ".2f"), fmt(r["rss"], ".1f"),
                     fmt(r["loss"], ".4f"), fmt(r["acc"], ".4f"), fmt(r["test_loss"], ".4f"),
                     fmt(r["test_acc"], ".4f"), fmt(r["x_wall"], ".2f"), fmt(r["x_train"], ".2f"),
                     fmt(r["x_rss"], ".2f"), fmt(r["spread"], ".0f") + "%"])
    out += [table(hdr, body), ""]
    if any(r.get("mark") for r in rows):
        out += [f"† this nnc prints its training time in hundredths of a second only, too coarse here: "
                f"its training time and µs/step come from the {w['epochs'] * SPIRAL_LONG}-epoch run "
                f"(median training time / steps), scaled to its own steps.", ""]
    names = [n for n in BASE if n in curves]
    inits = [curves[n + " init"] for n in names]
    if inits:
        same = max(inits) - min(inits) <= 1e-3
        out += ["Loss of the initial params on the training set (the peers load nnc's `--epochs 0 --save` "
                "checkpoint): " + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, inits)) +
                (" — the same." if same else " — **MISMATCH: the peers do not see nnc's data or params.**"), ""]
    if w.get("profile"):
        out += [profile_md(w["profile"]), ""]
    if "nnc" in curves:
        E = len(curves["nnc"])
        epochs = [e for e in sorted({1, 2, 3, 5, 10, 30, 100, 300, E}) if e <= E] if E > 10 else range(1, E + 1)
        out += ["Mean training loss of each epoch (warm-up run, `--log-csv`; the peers shuffle with their "
                "own RNG):", ""]
        out += [table(["epoch"] + names, [[str(e)] + [fmt(curves[n][e - 1] if e <= len(curves[n]) else None, ".4f")
                                                      for n in names] for e in epochs]), ""]
    return "\n".join(out)


def gflops_md(ws, all_rows, blas, peak):
    probes = blas[ws[0]["key"]]
    hdr = ["workload", "GEMM MFLOP/step", "nnc GFLOP/s", "PyTorch", "NumPy"]
    hdr += [f"sgemm, {p['core']} ({p['how']})" for p in probes]
    hdr += ["FMA peak", "nnc / peak"] + [f"nnc / sgemm {p['core']}" for p in probes]
    body = []
    for w in ws:
        rate = {r["name"]: gemm_flops(w["dims"], w["batch"]) * r["steps"] / r["train"] * 1e-9
                for r in all_rows[w["key"]] if r["threads"] == 1 and not r["dead"] and r["name"] in BASE}
        probes = blas[w["key"]]
        line = [w["key"], fmt(gemm_flops(w["dims"], w["batch"]) * 1e-6, ".3g")]
        line += [fmt(rate.get(n), ".1f") for n in BASE]
        line += [fmt(p["step"], ".1f") for p in probes]
        line += [fmt(peak, ".1f"), fmt(rate.get("nnc", 0) / peak * 100, ".0f") + "%"]
        line += [fmt(rate.get("nnc", 0) / p["step"] * 100, ".0f") + "%" for p in probes]
        body.append(line)
    return table(hdr, body)


def gemm_detail_md(probes):
    hdr = ["GEMM", "M×N×K", "flags"] + [f"GFLOP/s {p['core']}" for p in probes]
    body = [[name, mnk, flags] + [p["gemms"][i][3] for p in probes]
            for i, (name, mnk, flags, _) in enumerate(probes[0]["gemms"])]
    return table(hdr, body)


def compile_md(times):
    return table(["model", "median ms", "min ms"],
                 [[m, fmt(t[0], ".2f"), fmt(t[1], ".2f")] for m, t in times.items()])


# ---- the report -------------------------------------------------------------
def report(args, info, load0, ws, rows, curves, errors, blas, peak, times, secs, lever_res):
    probes = blas[next(iter(blas))] if blas else []
    o = ["# nnc benchmark results", "",
         f"Written by `make bench` (bench/bench.py) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
         f"in {secs / 60:.1f} minutes.  Medians of {args.runs} runs after one warm-up, the systems "
         "taking turns run by run.  One thread unless the threads column says otherwise "
         "(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and torch.set_num_threads).  "
         "Ratios are peer/nnc in this run: above 1, nnc is faster or smaller.", "",
         "## Machine", "",
         f"- CPU: {info['cpu']}, {info['cores']} cores, AVX-512 {'yes' if info['avx512'] else 'no'}; "
         f"kernel {info['kernel']}",
         f"- load average (1 min) at the start {load0:.2f}, at the end {os.getloadavg()[0]:.2f} "
         "(other work on the machine slows every system alike, the spread column shows how much it varied)",
         f"- nnc {info['nnc']}; {info['cc']}",
         f"- Python {info['python'][0]}, PyTorch {info['python'][1]}, NumPy {info['python'][2]}",
         f"- nnc's BLAS: {nnc_blas()} (make's choice, build/blas.env); the peers': OpenBLAS",
         f"- OpenBLAS environment: {info['blas_env'] or 'none'}; the libraries and cores probed: "
         + (", ".join(f"{p['core']} ({p['how']})" for p in probes) or "not probed (no dense workload run)"),
         f"- FMA peak of one core: {peak[0]:.1f} GFLOP/s ({peak[1]}, build/bench/fma_peak)", ""]
    o += ["Columns: wall = the whole process (start, data loading, training, final evaluation); train = the "
          "training loop as the program times it (nnc's summary, the peers' perf_counter around the epochs, "
          "test evaluations inside training included); peak RSS = ru_maxrss (build/bench/runone, as "
          "`/usr/bin/time -f %M`); loss and acc = the summary's evaluation of the whole training set after "
          "training (test: the t10k set); train spread = (max - min) / median of the training times.", ""]
    o += ["The peers (bench/peer_torch.py, bench/peer_numpy.py) read the model's train block, load nnc's initial "
          "params and see the same rows, so the initial losses agree to the last digit; they shuffle with their "
          "own RNG, so later losses agree only loosely.  torch.optim.Adam puts eps after the bias correction, "
          "nnc and the NumPy peer before it.  nnc built with OpenBLAS picks its kernels itself (nnrt_blas_tune); "
          "the peers run the core the environment gives them, and on Fashion-MNIST, where the CPU has AVX-512, also with "
          "OPENBLAS_CORETYPE=SkylakeX.", ""]
    for w in ws:
        if w["key"] in errors:
            o += [f"## {w['key']}", "", "**failed:**", "", "```", errors[w["key"]], "```", ""]
        else:
            o += [workload_md(w, rows[w["key"]], curves[w["key"]])]
    good = [w for w in ws if w["key"] not in errors and w["key"] in blas]
    if good:
        o += ["## GEMM throughput (one thread)", "",
              "GEMM flops of a step: per dense layer with batch B, 2·B·in·out for the forward product, the "
              "same for dW = Xᵀ·dY and for dX = dY·Wᵀ (no dX for the first layer).  A system's GFLOP/s = "
              "those flops over all its training steps / its training time, so everything else in the step "
              "(gather, elementwise, update, in-training evaluation) counts against it.  sgemm = "
              "build/bench/sgemm running exactly the step's GEMMs, best of 40 rounds of 5 ms, with BLIS "
              "(build/bench/sgemm_blis) where nnc links it, and with OpenBLAS under each core it can run here.", "",
              gflops_md(good, rows, blas, peak[0]), ""]
        big = good[-1]
        o += [f"sgemm per GEMM, {big['key']} (batch {big['batch']}):", "", gemm_detail_md(blas[big["key"]]), ""]
    o += ["## Goals", "", "The speed goals against this run's figures (medians above; the share of the GEMM "
          "limit is the time the step's GEMM flops take at the FMA peak over nnc's training time).", "",
          goals_md(ws, rows, lever_res, peak[0], blas), ""]
    if lever_res:
        o += ["## Levers", "",
              "Each lever measured alone: the trainer's own C file built with other flags, "
              f"{args.runs} runs each in turns, one thread (the 2-thread lever is the threads rows above: "
              "OMP_NUM_THREADS=2 splits the large products and the batch gather over two threads of nnc's "
              "own).  Instructions a step: callgrind over the default epochs less an --epochs 0 run, per "
              "step, built for AVX2 (valgrind decodes no AVX-512).", ""]
        for key, lv in lever_res.items():
            o += [f"{key}:", "", levers_md(next(w for w in ws if w.get("key") == key), lv), ""]
    o += ["## nnc compile time", "", "`build/nnc MODEL -o build/bench/cc/MODEL.c`, hyperfine, 30 runs after 3 "
          "warm-ups:", "", compile_md(times), ""]
    o += ["## Commands", "", "```", "make bench        # = sh scripts/deps.sh bench; /usr/bin/python3 bench/bench.py"]
    for w in ws:
        if w["key"] in errors:
            continue
        o += [" ".join(w["build_cmd"]).replace(ROOT + "/", ""), " ".join(w["init_cmd"]).replace(ROOT + "/", "")]
        for threads in w["threads"]:
            for c in systems(w, threads):
                env = f"OPENBLAS_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
                if c.get("blas"):
                    env += f"OPENBLAS_CORETYPE={c['blas']} "
                o.append(env + " ".join(c["argv"]).replace(ROOT + "/", ""))
    o += ["build/bench/sgemm B D0 D1 ...   # OPENBLAS_NUM_THREADS=1; as is, OPENBLAS_CORETYPE unset, =SkylakeX",
          "build/bench/fma_peak", "```", ""]
    return "\n".join(o)


def main():
    p = argparse.ArgumentParser(description="nnc against PyTorch, NumPy and the machine")
    p.add_argument("--runs", type=int, default=5, help="measured runs per system (after one warm-up)")
    p.add_argument("--only", default="spiral,fashion,large,lenet", help="workloads, comma-separated")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    args = p.parse_args()
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    os.makedirs(WORK, exist_ok=True)
    info = machine()
    print(f"bench: {info['cpu']}, {info['cores']} cores; {args.runs} runs per system", flush=True)
    peak = fma_peak()
    print("bench: nnc compile times", flush=True)
    times = compile_times()
    ws, rows, curves, errors, blas, lever_res = [], {}, {}, {}, {}, {}
    for key in args.only.split(","):
        print(f"bench: workload {key}", flush=True)
        w = {"key": key}
        try:
            w = prepare(key)
            res, order, dead, curves[key] = measure(w, args.runs)
            rows[key] = workload_rows(w, res, order, dead)
            w["profile"] = profile(w)
            if not w.get("cnn"):
                blas[key] = sgemm_all(w, info)
            if key in ("spiral", "fashion"):
                print(f"bench: levers of {key}", flush=True)
                lever_res[key] = levers(w, args.runs)
        except (Failed, TimedOut, subprocess.CalledProcessError) as e:
            errors[key] = str(e) + (str(e.stderr or "") if isinstance(e, subprocess.CalledProcessError) else "")
            print(f"bench: {key} failed: {errors[key]}", file=sys.stderr)
        ws.append(w)
    again = fma_peak()
    peak = max(peak, again)
    md = report(args, info, load0, ws, rows, curves, errors, blas, peak, times, time.perf_counter() - t0,
                lever_res)
    with open(args.out, "w") as f:
        f.write(md)
    with open(os.path.join(BUILD, "rows.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(md)
    print(f"bench: wrote {os.path.relpath(args.out, ROOT)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
