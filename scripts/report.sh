#!/bin/sh
# report.sh: the memory plan of every model against its targets
# (docs/memory-plan.md), then the offset assignment on glow's recorded
# traces.  `make report` runs it.
#
#   sh scripts/report.sh [NNC] [TRACE_REPLAY]
#
# For each models/*.nn it reads the totals of `nnc -dP` (plan.c, plan_dump)
# and prints one line: the arena, the lower bound (the most bytes live at one
# step), naive (every buffer its own bytes), both ratios, the number of
# layers (forward matmuls) and a verdict:
#   arena <= 1.05 x lower bound, always;
#   arena <= 0.5 x naive, for models with two or more layers.
# Exit status 1 when a model misses a target or nnc fails on it.
nnc=${1:-build/nnc}
replay=${2:-build/tools/trace_replay}
traces=tests/data/glow-memory-traces.txt
fail=0

# The number after WORD in a plan_dump line ("arena 2816 B" -> 2816).
field() {
    printf '%s\n' "$1" | sed -n "s/.*[ (]$2 \([0-9][0-9]*\).*/\1/p" | head -n 1
}

printf '%-22s %10s %12s %10s %9s %9s %6s  %s\n' model arena 'lower bound' naive 'a/lower' 'a/naive' layers verdict
for m in models/*.nn; do
    name=$(basename "$m" .nn)
    if ! out=$("$nnc" -dP "$m" 2>&1); then
        printf '%-22s nnc failed:\n%s\n' "$name" "$out"
        fail=1
        continue
    fi
    arena=$(field "$out" arena)
    lower=$(field "$out" 'lower bound')
    naive=$(field "$out" naive)
    layers=$(field "$out" matmuls)
    line=$(awk -v a="$arena" -v l="$lower" -v n="$naive" -v k="$layers" 'BEGIN {
        rl = l > 0 ? a / l : 1; rn = n > 0 ? a / n : 1;
        v = "ok";
        if (rl > 1.05) v = "MISSED: arena > 1.05 x lower bound";
        else if (k >= 2 && rn > 0.5) v = "MISSED: arena > 0.5 x naive";
        printf "%10d %12d %10d %9.3f %9.3f %6d  %s", a, l, n, rl, rn, k, v }')
    printf '%-22s %s\n' "$name" "$line"
    case $line in *MISSED*) fail=1 ;; esac
done

echo
echo "offset assignment on $traces:"
"$replay" "$traces" | grep -E '^(traces:|for comparison)' || fail=1
exit $fail
