#!/bin/sh
# bench/mpi_scaling.sh [EPOCHS [REPEATS]]: fashion_relu (models/fashion_relu.nn)
# built with nnc --mpi, trained on 1 rank and on 2 ranks (mpirun -np N),
# REPEATS times each (default 3) for EPOCHS epochs (default 2); prints the
# time of a training step (the summary's "us a step": the steps alone,
# evaluation and loading left out) and of a whole run, the best of the
# repeats, and the 2-rank speedup.  docs/mpi.md holds the cost model these
# figures check.  Last, the bound that no allreduce can beat: two
# single-process trainers of half the batch (B/2 rows a step, no MPI)
# running side by side, one a core, as the two ranks' compute does.
# Run from the repository root after `make`; the machine
# should be otherwise idle (a shared one makes the figures noisy).
EPOCHS=${1:-2}
REPEATS=${2:-3}
NNC=${NNC:-build/nnc}
W=build/mpi_bench.$$
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
mkdir -p "$W" || exit 1
trap 'rm -rf "$W"' EXIT
"$NNC" models/fashion_relu.nn --mpi -o "$W/fr" || exit 1
best() { sort -g | head -1; }
for np in 1 2; do
    : >"$W/step.$np"
    : >"$W/wall.$np"
    for r in $(seq "$REPEATS"); do
        t0=$(date +%s.%N)
        OPENBLAS_NUM_THREADS=1 $MPIRUN -np $np "$W/fr" --epochs "$EPOCHS" --quiet >"$W/out" 2>&1 || { cat "$W/out"; exit 1; }
        t1=$(date +%s.%N)
        sed -n 's/.*(\([0-9.]*\) us a step).*/\1/p' "$W/out" >>"$W/step.$np"
        echo "$t1 - $t0" | bc >>"$W/wall.$np"
    done
    printf '%d rank(s): %8.1f us a step, %6.2f s a run of %d epochs (best of %d)\n' $np \
        "$(best <"$W/step.$np")" "$(best <"$W/wall.$np")" "$EPOCHS" "$REPEATS"
done
s1=$(best <"$W/step.1"); s2=$(best <"$W/step.2")
w1=$(best <"$W/wall.1"); w2=$(best <"$W/wall.2")
echo "speedup, 2 ranks over 1: $(echo "scale=2; $s1 / $s2" | bc)x a step, $(echo "scale=2; $w1 / $w2" | bc)x a whole run" \
     "(load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores)"

# The bound: the same model with half the batch, two copies at once.
b=$(sed -n 's/^ *batch *= *\([0-9]*\);.*/\1/p' models/fashion_relu.nn)
sed "s/^\( *batch *= *\)$b;/\1$((b / 2));/" models/fashion_relu.nn >"$W/half.nn"
"$NNC" "$W/half.nn" -o "$W/half" || exit 1
: >"$W/step.half"
for r in $(seq "$REPEATS"); do
    OPENBLAS_NUM_THREADS=1 "$W/half" --epochs "$EPOCHS" --quiet >"$W/out.a" 2>&1 &
    pid=$!
    OPENBLAS_NUM_THREADS=1 "$W/half" --epochs "$EPOCHS" --quiet >"$W/out.b" 2>&1 || { cat "$W/out.b"; exit 1; }
    wait $pid || { cat "$W/out.a"; exit 1; }
    cat "$W/out.a" "$W/out.b" | sed -n 's/.*(\([0-9.]*\) us a step).*/\1/p' | sort -g | tail -1 >>"$W/step.half"
done
sh=$(best <"$W/step.half")
printf 'two trainers of batch %d side by side, no communication: %8.1f us a step (the slower, best of %d)\n' \
    $((b / 2)) "$sh" "$REPEATS"
echo "bound on the 2-rank speedup (its compute alone): $(echo "scale=2; $s1 / $sh" | bc)x;" \
     "2 ranks reach $(echo "scale=0; 100 * $sh / $s2" | bc)% of it"
