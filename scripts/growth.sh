#!/bin/sh
# growth.sh: the compiler's time and memory against the size of a model.
# `make growth` runs it, and `make report` after the memory plans.
#
#   sh scripts/growth.sh [NNC [LAYERS ...]]
#
# For each N (default 10 100 1000 5000 10000 20000) it writes an MLP of N
# layers of width 4,
#
#   model deep;
#   input x: f32[B, 2];
#   label t: i32[B];
#   h = mlp(x, [4, 4, ..., 4], act=relu);     # N layers
#   loss = softmax_cross_entropy(h, t);
#   minimize loss;
#   train { data = spiral(...); optimizer = sgd(lr=0.1); ... }
#
# and prints one row: the layers, the steps of the plan (the graph's nodes
# after autodiff and optimize, from the emitted file's header), the seconds
# of `nnc --check` (parse and sema) and of `nnc deep.nn -o deep.c` (the whole
# pipeline, C written), the peak resident memory of the latter, the
# microseconds per layer, and a verdict against the targets: 10,000 layers
# in under 2 s, 20,000 in under 5 s, at most 500 MB at any size.
# GROWTH_SLACK=K multiplies the time targets (tests/run_growth.sh runs it on
# a machine busy with other tests).  Times and memory come from GNU time
# (/usr/bin/time); without it, seconds from date and no memory column.
# Exit status 1 when a target is missed or nnc fails.
nnc=${1:-build/nnc}
[ $# -gt 0 ] && shift
sizes=${*:-10 100 1000 5000 10000 20000}
slack=${GROWTH_SLACK:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnc-growth.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

# The model of n layers on stdout.
model() {
    awk -v n="$1" 'BEGIN {
        print "model deep;"; print "input x: f32[B, 2];"; print "label t: i32[B];"
        printf "h = mlp(x, ["
        for (i = 1; i < n; i++) printf "4, "
        print "4], act=relu);"
        print "loss = softmax_cross_entropy(h, t);"; print "minimize loss;"
        print "train { data = spiral(classes=4, points=10, seed=1); optimizer = sgd(lr=0.1); epochs = 1; batch = 8; }"
    }'
}

# Runs "$@", output to $tmp/out; sets secs and kb (kb "-" without GNU time).
measure() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$tmp/out" 2>&1 || return 1
        secs=$(awk '{print $1}' "$tmp/time")
        kb=$(awk '{print $2}' "$tmp/time")
    else
        t0=$(date +%s.%N)
        "$@" >"$tmp/out" 2>&1 || return 1
        secs=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
        kb=-
    fi
}

echo "compile-time growth: nnc deep.nn -o deep.c, deep.nn an MLP of N layers of width 4 (scripts/growth.sh)"
printf '%8s %8s %9s %9s %9s %9s  %s\n' layers steps 'check s' 'compile s' 'peak MB' 'us/layer' verdict
for n in $sizes; do
    model "$n" >"$tmp/deep.nn"
    if ! measure "$nnc" --check "$tmp/deep.nn"; then
        printf '%8d nnc --check failed:\n' "$n"; sed 's/^/    /' "$tmp/out"; fail=1; continue
    fi
    check=$secs
    if ! measure "$nnc" "$tmp/deep.nn" -o "$tmp/deep.c"; then
        printf '%8d nnc failed:\n' "$n"; sed 's/^/    /' "$tmp/out"; fail=1; continue
    fi
    steps=$(sed -n 's/.*plan: steps \([0-9]*\).*/\1/p' "$tmp/deep.c" | head -n 1)
    line=$(awk -v n="$n" -v s="$secs" -v c="$check" -v kb="$kb" -v k="$slack" -v st="${steps:-0}" 'BEGIN {
        mb = kb == "-" ? -1 : kb / 1024
        limit = n >= 20000 ? 5 : n >= 10000 ? 2 : 0
        v = "ok"
        if (limit && s > limit * k) v = sprintf("MISSED: over %g s", limit * k)
        else if (mb > 500) v = "MISSED: over 500 MB"
        printf "%8d %8d %9.2f %9.2f %9s %9.1f  %s", n, st, c, s, mb < 0 ? "-" : sprintf("%.1f", mb),
               s * 1e6 / n, v }')
    printf '%s\n' "$line"
    case $line in *MISSED*) fail=1 ;; esac
done
exit $fail
