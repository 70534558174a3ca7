#!/bin/sh
# tests/cuda/run_gpu.sh: make test-cuda -- nnc's CUDA programs on a GPU
# (docs/cuda.md).  For every model of models/ and tests/cuda/models/, and
# tests/e2e/cnn_bars.nn (conv2d and pooling), bag_ids.nn (token ids) and
# bn_bars.nn (batch norm) (built with
# `nnc M.nn --target cuda -o PROG`):
#   a. the first 20 step losses ($NNRT_STEP_LOG) against the C program's
#      (tests/cuda/c_steps.c), same seed: within 1e-4 relative, or within 4
#      times the spread the C program itself shows between its two GEMMs
#      (OpenBLAS and --blas none) where training amplifies rounding;
#   b. --gradcheck passes through the device forward (or fails exactly as
#      the C program's does, which is then not the CUDA target's doing);
#   c. trained as the train block says, the C targets are met: twolayer
#      loss <= 0.14 and acc >= 0.96, spiral_mlp loss <= 0.10 and acc >= 0.96,
#      xor/and/or/nand/cnn_bars acc 1, fashion_relu test acc >= 0.855,
#      softmax_regression, mnist_sigmoid, mnist_tanh, mnist_tanh_dropout
#      test acc >= 0.80;
#   d. two runs are bit-identical: the same step losses (every bit) and the
#      same checkpoint, byte for byte; and the runtime's own loop over the
#      same kernels (NNRT_CUDA_HOST_LOOP=1) saves that checkpoint too;
#   e. compute-sanitizer --tool memcheck reports no error (on the first
#      1000 rows for the Fashion-MNIST models, to keep it short).
# Where there is no GPU (nvidia-smi -L lists none) it says so and exits 0
# without running anything.  One line per check, a tally; exit 1 if any
# check failed.  Work goes to build/cuda/gpu.PID (kept when a check failed).
NNC=build/nnc
W=build/cuda/gpu.$$
FM=/usr/share/datasets/fashion-mnist
JOBS=$(nproc 2>/dev/null || echo 4)
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "test-cuda: no GPU here (nvidia-smi -L lists none): no CUDA program was run"
    exit 0
fi
NVCC=${NVCC:-$(command -v nvcc 2>/dev/null)}
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ] || [ ! -f build/libnnrt_cuda.a ]; then
    echo "FAIL test-cuda: a GPU but no nvcc or no build/libnnrt_cuda.a: cannot build the programs (run make where nvcc is)"
    exit 1
fi
export NVCC
SAN=$(command -v compute-sanitizer 2>/dev/null)
[ -z "$SAN" ] && [ -x "$(dirname "$NVCC")/compute-sanitizer" ] && SAN=$(dirname "$NVCC")/compute-sanitizer
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null)
[ -f build/blas.env ] && . build/blas.env   # the BLAS make built the runtime with
mkdir -p "$W/log"
echo "test-cuda: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1), nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"

MODELS="models/*.nn tests/cuda/models/*.nn tests/e2e/cnn_bars.nn tests/e2e/bag_ids.nn tests/e2e/bn_bars.nn"
D=""
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$W/data"
    python3 tests/cuda/idx_head.py "$FM/train-images-idx3-ubyte.gz" "$W/data/train-img" 1000 &&
    python3 tests/cuda/idx_head.py "$FM/train-labels-idx1-ubyte.gz" "$W/data/train-lab" 1000 &&
    python3 tests/cuda/idx_head.py "$FM/t10k-images-idx3-ubyte.gz" "$W/data/test-img" 300 &&
    python3 tests/cuda/idx_head.py "$FM/t10k-labels-idx1-ubyte.gz" "$W/data/test-lab" 300 &&
    D="--data $W/data/train-img,$W/data/train-lab --test $W/data/test-img,$W/data/test-lab"
fi

# ---- build everything, in parallel -------------------------------------------------
build_one() {
    m=$1
    p=$W/$(basename "$m" .nn)
    $NNC "$m" --target cuda -o "$p.gpu" >"$p.build" 2>&1 &&
    $NNC "$m" -o "$p.c" >>"$p.build" 2>&1 && $NNC "$m" --blas none -o "$p.none.c" >>"$p.build" 2>&1 &&
    cc -std=c99 -O2 -Iruntime -o "$p.cprog" "$p.c" build/libnnrt.a $BLAS_LIBS -lz -lm >>"$p.build" 2>&1 &&
    cc -std=c99 -O2 -Iruntime -o "$p.steps" "$p.c" tests/cuda/c_steps.c build/libnnrt.a $BLAS_LIBS -lz -lm >>"$p.build" 2>&1 &&
    cc -std=c99 -O2 -Iruntime -o "$p.steps_none" "$p.none.c" tests/cuda/c_steps.c build/libnnrt.a -lz -lm >>"$p.build" 2>&1 ||
    echo failed >>"$p.build"
}
n=0
for m in $MODELS; do
    build_one "$m" &
    n=$((n + 1))
    [ $((n % JOBS)) -eq 0 ] && wait
done
wait

worst_rel() {
    paste "$1" "$2" | head -20 | awk '
        NF != 4 { bad = 1 }
        { d = $2 - $4; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2; r = a > 0 ? d / a : d; if (r > w) w = r }
        END { if (bad || NR < 20) print "short"; else printf "%.3g\n", w }'
}
field() { sed -n "s/^done:.*| $2 \([-0-9.naifNIF]*\).*/\1/p" "$1" | tail -1; }
ge() { [ -n "$1" ] && awk "BEGIN { exit !($1 >= $2) }"; }
le() { [ -n "$1" ] && awk "BEGIN { exit !($1 <= $2) }"; }

# targets NAME OUT: the C program's targets on a full run's summary
targets() {
    l=$(field "$2" loss); a=$(field "$2" acc); ta=$(field "$2" "test acc")
    case $1 in
    twolayer) le "$l" 0.14 && ge "$a" 0.96 && echo "loss $l <= 0.14, acc $a >= 0.96" ;;
    spiral_mlp) le "$l" 0.10 && ge "$a" 0.96 && echo "loss $l <= 0.10, acc $a >= 0.96" ;;
    xor|and|or|nand|cnn_bars) ge "$a" 1 && echo "acc $a = 1" ;;
    fashion_relu) ge "$ta" 0.855 && echo "test acc $ta >= 0.855" ;;
    softmax_regression|mnist_sigmoid|mnist_tanh|mnist_tanh_dropout) ge "$ta" 0.80 && echo "test acc $ta >= 0.80" ;;
    *) echo "no target (loss $l, acc $a)" ;;
    esac
}

for m in $MODELS; do
    name=$(basename "$m" .nn)
    p=$W/$name
    if grep -q failed "$p.build"; then
        bad "$name: does not build:"
        tail -10 "$p.build" | sed 's/^/     /'
        continue
    fi
    mnist=0
    grep -q 'idx(' "$m" && mnist=1
    if [ $mnist -eq 1 ] && [ -z "$D" ]; then
        echo "skip $name: $FM is not installed (sh scripts/deps.sh data)"
        continue
    fi
    # a. the first 20 steps against the C program's (full data set, block's epochs)
    "$p.steps" >"$p.c_steps" 2>&1
    "$p.steps_none" >"$p.none_steps" 2>&1
    NNRT_STEP_LOG="$p.run1.steps" "$p.gpu" --save "$p.run1.st" >"$p.run1" 2>&1
    rc=$?
    w=$(worst_rel "$p.c_steps" "$p.run1.steps")
    spread=$(worst_rel "$p.c_steps" "$p.none_steps")
    if [ $rc -ne 0 ] || [ "$w" = short ] || [ "$spread" = short ]; then
        bad "$name: the run failed (exit $rc) or logged fewer than 20 steps:"
        tail -5 "$p.run1" | sed 's/^/     /'
        continue
    elif awk "BEGIN { exit !($w <= 1e-4 || $w <= 4 * $spread) }"; then
        ok "$name: first 20 losses within $w of the C program's (C with its two GEMMs: $spread)"
    else
        bad "$name: first 20 losses differ from the C program's by $w (C with its two GEMMs: $spread)"
    fi
    # c. the targets, from that full run
    if t=$(targets "$name" "$p.run1"); then
        ok "$name: $t  [$(grep '^done:' "$p.run1")]"
    else
        bad "$name: misses the C targets: $(grep '^done:' "$p.run1")"
    fi
    # d. bit-identical: a second run, and the runtime's own loop
    NNRT_STEP_LOG="$p.run2.steps" "$p.gpu" --save "$p.run2.st" >"$p.run2" 2>&1
    if cmp -s "$p.run1.steps" "$p.run2.steps" && cmp -s "$p.run1.st" "$p.run2.st"; then
        ok "$name: two runs are bit-identical ($(wc -l <"$p.run1.steps") step losses, the checkpoint)"
    else
        bad "$name: two runs differ"
    fi
    hl_flags=""
    [ $mnist -eq 1 ] && hl_flags="--epochs 1"
    "$p.gpu" $hl_flags --save "$p.graph.st" >/dev/null 2>&1
    NNRT_CUDA_HOST_LOOP=1 "$p.gpu" $hl_flags --save "$p.host.st" >/dev/null 2>&1
    if cmp -s "$p.graph.st" "$p.host.st"; then
        ok "$name: graph-replayed training saves the checkpoint the runtime's own loop saves ${hl_flags:+($hl_flags) }byte for byte"
    else
        bad "$name: graph-replayed and host-driven training save different checkpoints"
    fi
    # b. the gradient check
    if "$p.gpu" --gradcheck >"$p.gc" 2>&1; then
        ok "$name: --gradcheck $(tail -1 "$p.gc" | sed 's/^gradcheck: //')"
    else
        "$p.cprog" --gradcheck >"$p.cgc" 2>&1
        cgc=$?
        if [ $cgc -ne 0 ]; then
            ok "$name: --gradcheck fails as the C program's does ($(tail -1 "$p.gc" | sed 's/^gradcheck: //'); C: $(tail -1 "$p.cgc" | sed 's/^gradcheck: //'))"
        else
            bad "$name: --gradcheck failed, the C program's passes:"
            tail -8 "$p.gc" | sed 's/^/     /'
        fi
    fi
    # e. memcheck
    if [ -z "$SAN" ]; then
        echo "skip $name: compute-sanitizer not found"
    else
        flags="--epochs 2"
        [ $mnist -eq 1 ] && flags="$D --epochs 1"
        "$SAN" --tool memcheck --error-exitcode 9 "$p.gpu" $flags >"$p.san" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$p.san"; then
            ok "$name: compute-sanitizer --tool memcheck: 0 errors ($flags)"
        else
            bad "$name: compute-sanitizer --tool memcheck (exit $rc):"
            grep -m 12 -E "=========|nnrt:" "$p.san" | sed 's/^/     /'
        fi
    fi
done

echo "test-cuda: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$W"
else
    echo "     (work and logs kept in $W)"
fi
[ "$fail" -eq 0 ]
