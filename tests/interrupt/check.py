#!/usr/bin/env python3
"""tests/interrupt/check.py: stopping a trainer and going on (run_interrupt.sh).

usage: check.py PROG CSVPROG WORKDIR

PROG is tests/interrupt/long_spiral.nn built (5000 epochs of 75 steps, a
few seconds); CSVPROG is tests/e2e/csv3.nn built.  Each check prints one
"ok"/"FAIL" line; the exit status is 1 when any failed.

  unbroken   the reference: PROG --save full.st --log-csv full.csv
  SIGINT     after the CSV log has 3 rows: exit 130, one stderr line naming
             the checkpoint (MODEL.interrupted.safetensors: no --save) and
             the command that resumes; the checkpoint's epoch/step/batch
             metadata; the CSV rows so far equal the reference's rows
  SIGTERM    the printed command (plus --save term.st), stopped by SIGTERM:
             exit 130, term.st written
  resume     the command printed then, run to the end: term.st is
             byte-identical to full.st (params, Adam's moments, step) and
             the summary's loss and accuracy are the unbroken run's
  nothing    --load full.st: "nothing left to train", how to train more,
             the summary with no time per step, exit 0
  save-every --epochs 3 --save-every 2: the checkpoint after epoch 2 is
             byte-identical to a run of --epochs 2 --save
  did-you-mean  --epoch 3: exit 2, "did you mean '--epochs'"; --log-every
             overrides the train block
  terminal   on a pseudo-terminal: \\r redraws with an ETA and samples/s,
             epoch lines ended; through a pipe: the plain lines, no \\r
  loading    CSVPROG: "loading FILE... N rows" first, none with --quiet
"""
import os
import pty
import re
import select
import shlex
import signal
import struct
import json
import subprocess
import sys
import time

PROG, CSVPROG, W = sys.argv[1], sys.argv[2], sys.argv[3]
fails = 0


def ok(msg):
    print("ok   " + msg)


def bad(msg):
    global fails
    fails += 1
    print("FAIL " + msg)


def meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def summary(text):
    """The summary line without its times."""
    m = re.search(r"^done: .*$", text, re.M)
    return re.sub(r" in [0-9.]+s( \([0-9.]+ us a step\))?", "", m.group(0)) if m else None


def rows(path):
    with open(path) as f:
        return f.read().splitlines()


def run(args, **kw):
    return subprocess.run(args, cwd=W, capture_output=True, text=True, timeout=300, **kw)


def stop_after(args, sig, csv, want_rows, extra_wait=0.0):
    """Starts args, sends sig once csv has want_rows data rows; (rc, out, err)."""
    p = subprocess.Popen(args, cwd=W, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 120:
        try:
            if len(rows(os.path.join(W, csv))) > want_rows:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    time.sleep(extra_wait)
    if p.poll() is None:
        p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def resume_command(err):
    m = re.search(r"resume with: (.*)$", err, re.M)
    return shlex.split(m.group(1)) if m else None


# ---- the unbroken reference ----------------------------------------------------
ref = run([PROG, "--save", "full.st", "--log-csv", "full.csv"])
full_rows = rows(os.path.join(W, "full.csv")) if ref.returncode == 0 else []
if ref.returncode != 0 or len(full_rows) != 5001:
    bad(f"unbroken run: exit {ref.returncode}, {len(full_rows)} CSV lines: {ref.stderr.strip()}")
    sys.exit(1)
ok(f"unbroken run: {summary(ref.stdout)}")

# ---- SIGINT: the fallback checkpoint name, the CSV so far, the hint -------------
ckpt = "long_spiral.interrupted.safetensors"
epoch = 0
for attempt in range(5):  # until the stop falls inside an epoch (the epoch's end is a small part)
    for f in ("int.csv", ckpt):
        if os.path.exists(os.path.join(W, f)):
            os.remove(os.path.join(W, f))
    rc, out, err = stop_after([PROG, "--log-csv", "int.csv"], signal.SIGINT, "int.csv", 3)
    if rc != 130 or not os.path.exists(os.path.join(W, ckpt)) or meta(os.path.join(W, ckpt)).get("batch"):
        break
cmd = resume_command(err)
lines = [l for l in err.splitlines() if l]
if rc != 130:
    bad(f"SIGINT: exit {rc}, want 130: {err.strip()}")
elif len(lines) != 1 or "interrupted by SIGINT" not in err or f"saved {ckpt}" not in err or not cmd:
    bad(f"SIGINT: want one line naming {ckpt} and the command: {err!r}")
elif not os.path.exists(os.path.join(W, ckpt)):
    bad(f"SIGINT: {ckpt} was not written")
else:
    md = meta(os.path.join(W, ckpt))
    epoch, step, batch = int(md["epoch"]), int(md["step"]), int(md.get("batch", "0"))
    got = rows(os.path.join(W, "int.csv"))
    if cmd[:1] != [PROG] or cmd[-2:] != ["--load", ckpt] or "--log-csv" not in cmd:
        bad(f"SIGINT: the resume command is not the run's own plus --load: {cmd}")
    elif step != epoch * 75 + batch or not 0 <= batch < 75 or epoch < 3:
        bad(f"SIGINT: checkpoint metadata {md} (75 steps an epoch)")
    elif got != full_rows[:epoch + 1]:
        bad(f"SIGINT: the CSV log has {len(got) - 1} rows, not the unbroken run's first {epoch}")
    else:
        ok(f"SIGINT: exit 130, {ckpt} at epoch {epoch} step {step} batch {batch}, "
           f"{epoch} CSV rows as the unbroken run's; {lines[0]}")

# ---- SIGTERM on the resumed run, with --save ------------------------------------
term_md = None
if cmd:
    rc, out, err = stop_after(cmd + ["--save", "term.st"], signal.SIGTERM, "int.csv", epoch + 3)
    cmd = resume_command(err)
    if rc != 130 or "interrupted by SIGTERM" not in err or "saved term.st" not in err or not cmd:
        bad(f"SIGTERM: exit {rc}, want 130 and 'saved term.st': {err.strip()}")
        cmd = None
    elif "resumed from " + ckpt not in out:
        bad(f"SIGTERM: the resumed run did not say where it resumed: {out[:200]!r}")
    else:
        term_md = meta(os.path.join(W, "term.st"))
        ok(f"SIGTERM: exit 130, term.st at {term_md}; the CSV log went on: "
           f"{len(rows(os.path.join(W, 'int.csv'))) - 1} rows")

# ---- resume to the end: the unbroken run's bytes ---------------------------------
if cmd:
    res = run(cmd)
    with open(os.path.join(W, "full.st"), "rb") as f:
        want = f.read()
    with open(os.path.join(W, "term.st"), "rb") as f:
        got = f.read()
    csv_got = rows(os.path.join(W, "int.csv"))
    # the two interrupted epochs' loss averages the batches after the resume only
    def key(r):
        return r.split(",")[0] + "," + ",".join(r.split(",")[2:])
    if res.returncode != 0 or got != want:
        bad(f"resume: exit {res.returncode}; term.st {'differs from' if got != want else 'equals'} "
            f"full.st: {res.stderr.strip()}")
    elif summary(res.stdout) != summary(ref.stdout):
        bad(f"resume: summary {summary(res.stdout)!r}, unbroken {summary(ref.stdout)!r}")
    elif [key(r) for r in csv_got] != [key(r) for r in full_rows]:
        bad("resume: the CSV log after two stops is not the unbroken run's rows")
    else:
        ok("resume: interrupted twice (SIGINT, SIGTERM) and resumed, the checkpoint is "
           f"byte-identical to the unbroken run's ({len(got)} bytes), summary "
           f"{summary(res.stdout)!r}, CSV rows 1..5000 as unbroken")

# ---- nothing left ----------------------------------------------------------------------
res = run([PROG, "--load", "full.st"])
if (res.returncode != 0 or "nothing left to train: full.st is at epoch 5000" not in res.stdout
        or "--epochs M with M > 5000" not in res.stdout or "us a step" in res.stdout
        or summary(res.stdout) != summary(ref.stdout)):
    bad(f"nothing left: exit {res.returncode}: {res.stdout!r} {res.stderr!r}")
else:
    ok("nothing left: exit 0, " + " / ".join(res.stdout.strip().splitlines()[1:]))

# ---- --save-every ----------------------------------------------------------------
two = run([PROG, "--epochs", "2", "--save", "two.st"])
se = run([PROG, "--epochs", "3", "--save-every", "2", "--quiet"])
path = os.path.join(W, ckpt)
if two.returncode or se.returncode or not os.path.exists(path):
    bad(f"--save-every: exit {two.returncode}/{se.returncode}: {se.stderr.strip()}")
elif open(path, "rb").read() != open(os.path.join(W, "two.st"), "rb").read():
    bad("--save-every 2 of 3 epochs: the checkpoint is not the state after epoch 2")
else:
    ok("--save-every 2 over 3 epochs: the checkpoint equals a 2-epoch run's, byte for byte")
se = run([PROG, "--epochs", "4", "--save-every", "2", "--save", "se.st"])
if se.returncode or se.stdout.count("saved se.st (epoch 2, step 150)") != 1 or se.stdout.count("saved se.st") != 2:
    bad(f"--save-every 2 --save: want 'saved se.st (epoch 2, step 150)' then the final save: {se.stdout!r}")
else:
    ok("--save-every 2 --save se.st over 4 epochs: saved at epoch 2 and at the end")

# ---- flags ------------------------------------------------------------------------
res = run([PROG, "--epoch", "3"])
if res.returncode != 2 or "did you mean '--epochs'?" not in res.stderr:
    bad(f"--epoch: exit {res.returncode}: {res.stderr!r}")
else:
    ok("--epoch 3: exit 2, " + res.stderr.strip())
res = run([PROG, "--epochs", "2", "--log-every", "25"])
plain = [l for l in res.stdout.splitlines() if l.startswith("| epoch")]
if res.returncode or len(plain) != 6 or "iter 25/75" not in plain[0]:
    bad(f"--log-every 25: want 6 lines, 3 an epoch: {res.stdout!r}")
else:
    ok("--log-every 25 over 2 epochs of 75 steps: 6 progress lines")


# ---- a terminal, and a pipe ----------------------------------------------------------
def on_pty(args):
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(W)
        os.execv(args[0], args)
    data = b""
    while True:
        r, _, _ = select.select([fd], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), data.decode(errors="replace")


rc, tty = on_pty([PROG, "--epochs", "300", "--log-every", "7500"])
redraws = [s for s in tty.split("\r") if s.startswith("epoch ")]
ended = re.findall(r"epoch (\d+)/300 \| step 75/75 \| [0-9]+ samples/s \| loss [0-9.]+ \| ETA [^\n]*\n", tty)
if rc != 0 or not redraws or "| ETA " not in tty or "| epoch" in tty:
    bad(f"terminal: exit {rc}, want \\r redraws with an ETA and no plain lines: {tty[:300]!r}")
elif ended != ["100", "200", "300"] or "done: 300 epochs" not in tty:
    bad(f"terminal: want the lines of epochs 100, 200, 300 ended, got {ended}: {tty[-400:]!r}")
else:
    ok(f"terminal: {len(redraws)} redraws with \\r; epochs 100, 200, 300 ended; "
       f"e.g. {redraws[len(redraws) // 2].strip()!r}")
res = run([PROG, "--epochs", "300", "--log-every", "7500"])
plain = res.stdout.splitlines()
if "\r" in res.stdout or len(plain) != 4 or not all(l.startswith("| epoch") for l in plain[:3]):
    bad(f"pipe: want 3 plain lines and the summary: {res.stdout!r}")
else:
    ok("pipe: the plain lines (" + plain[0] + ")")

# ---- loading lines -----------------------------------------------------------------
res = subprocess.run([CSVPROG, "--epochs", "1"], capture_output=True, text=True, timeout=60)
first = res.stdout.splitlines()[0] if res.stdout else ""
if res.returncode or not re.match(r"^loading tests/e2e/good\.csv\.\.\. \d+ rows$", first):
    bad(f"loading: first line {first!r}")
else:
    quiet = subprocess.run([CSVPROG, "--epochs", "1", "--quiet"], capture_output=True, text=True)
    if "loading" in quiet.stdout:
        bad("loading: printed under --quiet")
    else:
        ok(f"loading: {first!r}; none with --quiet")

print(f"interrupt checks: {fails} failed")
sys.exit(1 if fails else 0)
