#!/bin/sh
# tests/run_threads.sh: training on several threads (OMP_NUM_THREADS).
#
# tests/e2e/threads_mlp.nn (2-256-256-3 on the spiral, 60 Adam steps: its
# hidden products are split over the threads by nnrt_sgemm) is trained
# three times on 2 threads: the summary says "2 threads" and the three
# checkpoints are the same bytes (the split is fixed by the thread count,
# nothing is reduced across threads).  On 1 thread the summary names no
# threads and the final loss is within 1e-3 of the 2-thread one (the
# kernel blocks the halves differently, so only the last bits may move).
# OMP_NUM_THREADS=0, 65, 2x and an empty value are refused with one line
# naming OMP_NUM_THREADS (exit 2).
#
# Run from the repository root after `make`; a few seconds.  One line per
# check, a tally; exit 1 if any failed.  Work goes to build/threads.PID,
# removed when all passed.  NNC=path/to/nnc runs it with another compiler.
NNC=${NNC:-build/nnc}
W=build/threads.$$
mkdir -p "$W"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# loss_of FILE: the loss figure of the summary line
loss_of() { sed -n 's/^done:.*| loss \([^ ]*\).*/\1/p' "$1"; }

p=$W/threads_mlp
if ! $NNC tests/e2e/threads_mlp.nn -o "$p" 2>"$W/build.err"; then
    bad "build tests/e2e/threads_mlp.nn: $(head -3 "$W/build.err")"
    echo "run_threads: $pass passed, $fail failed"
    exit 1
fi

for r in 1 2 3; do
    OMP_NUM_THREADS=2 "$p" --quiet --save "$p.$r.st" >"$p.$r.out" 2>&1 || bad "2 threads, run $r: exit $?: $(tail -1 "$p.$r.out")"
done
if grep -q "us a step, 2 threads)" "$p.1.out"; then
    ok "2 threads: the summary says so: $(cat "$p.1.out")"
else
    bad "2 threads: the summary does not name 2 threads: $(cat "$p.1.out")"
fi
if [ -s "$p.1.st" ] && cmp -s "$p.1.st" "$p.2.st" && cmp -s "$p.1.st" "$p.3.st"; then
    ok "2 threads: three runs save the same checkpoint bytes ($(sha256sum <"$p.1.st" | cut -c1-16))"
else
    bad "2 threads: three runs save different checkpoints"
fi

"$p" --quiet --save "$p.one.st" >"$p.one.out" 2>&1
l1=$(loss_of "$p.one.out") l2=$(loss_of "$p.1.out")
if grep -q "threads" "$p.one.out"; then
    bad "1 thread: the summary names threads: $(cat "$p.one.out")"
elif [ -n "$l1" ] && [ -n "$l2" ] && awk "BEGIN { d = $l1 - $l2; exit !(d < 1e-3 && d > -1e-3) }"; then
    ok "1 thread: final loss $l1, 2 threads $l2"
else
    bad "1 thread: final loss '$l1' against 2 threads' '$l2'"
fi

for v in 0 65 2x ""; do
    OMP_NUM_THREADS=$v "$p" --quiet --epochs 1 >"$W/bad.out" 2>"$W/bad.err"
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$W/bad.err")" -eq 1 ] && grep -q "^OMP_NUM_THREADS=$v: " "$W/bad.err" &&
       [ ! -s "$W/bad.out" ]; then
        ok "OMP_NUM_THREADS='$v' refused: $(cat "$W/bad.err")"
    else
        bad "OMP_NUM_THREADS='$v': exit $rc, stderr: $(head -2 "$W/bad.err")"
    fi
done

echo "run_threads: $pass passed, $fail failed"
[ $fail -eq 0 ] && rm -rf "$W"
[ $fail -eq 0 ]
