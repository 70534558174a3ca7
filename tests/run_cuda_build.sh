#!/bin/sh
# tests/run_cuda_build.sh: the CUDA target, checked without a GPU (docs/cuda.md).
#
#   1. nvcc: every model (models/, tests/cuda/, tests/e2e/) emitted by
#      `nnc --target cuda` compiles with nvcc -Werror all-warnings (and the
#      host compiler's -Wall -Wextra as errors) and links with
#      build/libnnrt_cuda.a, libnnrt.a and cuBLAS; the models named in
#      CUDA_REFUSED below must instead be refused in one line naming what
#      is missing, nothing written (any other refusal fails).  Where nvcc
#      is absent this part prints one "skip" line.
#   2. the CPU emulation (tests/cuda/mock): the same .cu files and
#      runtime/cuda/nnrt_cuda.cu compiled by g++ against an emulation of the
#      CUDA programming model (fibers for threads, CUDA graphs as recorded
#      closures, cuBLAS as column-major GEMMs).  NOT a GPU run: it checks
#      the emitted index arithmetic, the cuBLAS argument order, the memory
#      map, graph capture and replay and the driver, not speed or races.
#      For every model that trains from the repository (tests/e2e/cnn_bars.nn:
#      conv2d, max_pool and avg_pool and their gradients; one named in
#      CUDA_REFUSED is skipped with a "skip" line):
#        a. its first 20 step losses ($NNRT_STEP_LOG) match the C program's
#           (tests/cuda/c_steps.c) within 1e-4 relative, or within 4 times
#           the spread the C program itself shows between its two GEMMs
#           (OpenBLAS and --blas none), for models whose training amplifies
#           rounding (softmax_regression: lr 0.5 on unstandardized inputs);
#        b. the graph-replayed loop and the runtime's own loop over the same
#           kernels (NNRT_CUDA_HOST_LOOP=1) save the same checkpoint, byte
#           for byte;
#        c. --gradcheck passes through the device forward (the small models;
#           the MNIST-sized ones take minutes emulated: make test-cuda);
#      and: twolayer trains to the C targets (loss <= 0.14, acc >= 0.96);
#      the dropout stream's jump-ahead equals the sequential generator
#      (tests/cuda/test_pcg.cpp);
#      tabular data: tests/e2e/iris_like.nn (normalize="column" converted on
#      the host) through the checks a-c without and with its validation
#      line (the held-out rows evaluated on the device), and to its targets;
#      a resumed run prints what an unbroken one prints; a run stopped by
#      SIGTERM mid-training exits 130 and, resumed, saves the unbroken run's
#      checkpoint (tests/interrupt/long_spiral.nn), a --load with nothing
#      left exits 0, the progress line redraws on a terminal; a NaN loss stops
#      with exit 3 and the C program's message, and still saves the
#      checkpoint of the last epoch boundary (tests/e2e/nan_late.nn);
#      --init-from the C program's checkpoint gives its loss and accuracy;
#      i32 inputs (tests/e2e/bag_ids.nn): an id outside [0, V) refused at
#      load time with the file, line and column, --predict against the C
#      program's; batch norm (tests/e2e/bn_bars.nn): early stopping restores
#      the running statistics with the params, --predict against the C
#      program's;
#      --plot draws a valid chart (tests/e2e/svg_check.py); --predict with
#      the C program's checkpoint of tests/predict/clf.nn agrees with
#      tests/predict/ref.py within 1e-5.
#      The Fashion-MNIST models
#      train on the first 1000/300 rows (tests/cuda/idx_head.py), or are
#      skipped with a line where the data set is not installed.
#
# Run from the repository root after `make` (make test does both).  One line
# per check, a tally; exit 1 if any check failed.  Work goes to
# build/cuda/run.PID, removed when every check passed.
NNC=build/nnc
W=build/cuda/run.$$
FM=/usr/share/datasets/fashion-mnist
JOBS=$(nproc 2>/dev/null || echo 2)
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS
pass=0
fail=0

ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL $NNC or build/libnnrt.a is missing: run make first"
    exit 1
fi
mkdir -p "$W/log"

# ---- 1. nvcc -----------------------------------------------------------------
NVCC=${NVCC:-$(command -v nvcc 2>/dev/null)}
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
NVFLAGS="-O2 -std=c++17 -arch=${NNC_CUDA_ARCH:-sm_90} -Werror all-warnings -Xcompiler -Wall,-Wextra -Iruntime -Iruntime/cuda"
ALL_MODELS="models/*.nn tests/cuda/models/*.nn tests/cuda/bench/*.nn tests/e2e/*.nn"
# The models --target cuda refuses (docs/cuda.md, "Status"), by name: none now.
CUDA_REFUSED=""

# nvcc_one MODEL: emit, compile, link; "ok"/"FAIL" into $W/log/NAME.nvcc
nvcc_one() {
    name=$(basename "$1" .nn)
    log=$W/log/$name.nvcc
    if ! $NNC "$1" --target cuda -o "$W/$name.cu" 2>"$log.err"; then
        if echo " $CUDA_REFUSED " | grep -q " $name " && grep -q "is not supported by --target cuda yet" "$log.err" &&
            [ "$(wc -l <"$log.err")" -eq 1 ] && [ ! -e "$W/$name.cu" ]; then
            echo "ok   nvcc $name: nnc --target cuda refuses it in one line, as docs/cuda.md says:$(cut -d: -f4- "$log.err")" >"$log"
        else
            echo "FAIL nvcc $name: nnc --target cuda failed: $(head -1 "$log.err")" >"$log"
        fi
    elif ! $NVCC $NVFLAGS -c -o "$W/$name.o" "$W/$name.cu" >"$log.err" 2>&1; then
        echo "FAIL nvcc $name: does not compile with nvcc -Werror all-warnings:" >"$log"
        head -20 "$log.err" | sed 's/^/     /' >>"$log"
    elif ! $NVCC -arch=${NNC_CUDA_ARCH:-sm_90} -o "$W/$name.gpu" "$W/$name.o" build/libnnrt_cuda.a build/libnnrt.a \
            -lcublas -lz -lm >"$log.err" 2>&1; then
        echo "FAIL nvcc $name: does not link:" >"$log"
        head -10 "$log.err" | sed 's/^/     /' >>"$log"
    else
        echo "ok   nvcc $name: compiles with nvcc $($NVCC --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') -Werror all-warnings and links" >"$log"
    fi
}

# tally LOG...: count and print the lines of the logs in order
tally() {
    for f in "$@"; do
        [ -f "$f" ] || continue
        while IFS= read -r line; do
            case "$line" in
            "ok   "*) pass=$((pass + 1)) ;;
            "FAIL "*) fail=$((fail + 1)) ;;
            esac
            echo "$line"
        done <"$f"
    done
}

if [ -z "$NVCC" ]; then
    echo "skip nvcc: not found (PATH, /usr/local/cuda/bin): the .cu files are not compiled here"
elif [ ! -f build/libnnrt_cuda.a ]; then
    bad "nvcc: build/libnnrt_cuda.a is missing although nvcc exists: run make"
else
    n=0
    for m in $ALL_MODELS; do
        nvcc_one "$m" &
        n=$((n + 1))
        [ $((n % JOBS)) -eq 0 ] && wait
    done
    wait
    for m in $ALL_MODELS; do tally "$W/log/$(basename "$m" .nn).nvcc"; done
fi

# ---- 2. the CPU emulation ---------------------------------------------------------
CXX=${CXX_MOCK:-g++}
if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "skip emulation: $CXX not found"
    echo "run_cuda_build: $pass passed, $fail failed"
    [ "$fail" -eq 0 ] && rm -rf "$W"
    [ "$fail" -eq 0 ]
    exit
fi
BLAS_CFLAGS=$(pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null)
[ -f build/blas.env ] && . build/blas.env   # the BLAS make built the runtime with (BLIS has a cblas.h too)
MOCK="$CXX -std=c++17 -O1 -Itests/cuda/mock -Iruntime -Iruntime/cuda"
[ -n "$BLAS_LIBS" ] && MOCK="$MOCK -DMOCK_CBLAS $BLAS_CFLAGS"

sh tests/cuda/mock/cu2cpp.sh runtime/cuda/nnrt_cuda.cu "$W/nnrt_cuda.cpp"
if ! $MOCK -c -o "$W/nnrt_cuda.o" "$W/nnrt_cuda.cpp" 2>"$W/log/nnrt_cuda.err"; then
    bad "emulation: runtime/cuda/nnrt_cuda.cu does not build against the emulation:"
    head -20 "$W/log/nnrt_cuda.err" | sed 's/^/     /'
    exit 1
fi

# the dropout stream's jump-ahead against the runtime's sequential generator
if $CXX -std=c++17 -O2 -Itests/cuda/mock -Iruntime -Iruntime/cuda -o "$W/test_pcg" tests/cuda/test_pcg.cpp build/libnnrt.a -lm \
        2>"$W/log/test_pcg.err" && "$W/test_pcg" >"$W/log/test_pcg.out" 2>&1; then
    ok "emulation: $(cat "$W/log/test_pcg.out" | sed 's/^test_pcg: //') (nnrt_pcg_advance)"
else
    bad "emulation: tests/cuda/test_pcg.cpp failed:"
    cat "$W/log/test_pcg.err" "$W/log/test_pcg.out" 2>/dev/null | head -10 | sed 's/^/     /'
fi

D=""
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$W/data"
    python3 tests/cuda/idx_head.py "$FM/train-images-idx3-ubyte.gz" "$W/data/train-img" 1000 &&
    python3 tests/cuda/idx_head.py "$FM/train-labels-idx1-ubyte.gz" "$W/data/train-lab" 1000 &&
    python3 tests/cuda/idx_head.py "$FM/t10k-images-idx3-ubyte.gz" "$W/data/test-img" 300 &&
    python3 tests/cuda/idx_head.py "$FM/t10k-labels-idx1-ubyte.gz" "$W/data/test-lab" 300 &&
    D="--data $W/data/train-img,$W/data/train-lab --test $W/data/test-img,$W/data/test-lab"
fi

# The models the emulation trains: those whose data the repository has.
EMU_MODELS="models/*.nn tests/cuda/models/*.nn tests/e2e/spiral_adam.nn tests/e2e/gate_adagrad.nn
            tests/e2e/table_adadelta.nn tests/e2e/xor_wide.nn tests/e2e/csv3.nn tests/e2e/const_grads.nn
            tests/e2e/spiral_acts.nn tests/e2e/cnn_bars.nn tests/e2e/bag_ids.nn
            tests/e2e/bn_bars.nn"

# worst_rel A B: the worst relative difference of the first 20 losses of two step logs
worst_rel() {
    paste "$1" "$2" | head -20 | awk '
        NF != 4 { bad = 1 }
        { d = $2 - $4; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2; r = a > 0 ? d / a : d; if (r > w) w = r }
        END { if (bad || NR < 20) print "short"; else printf "%.3g\n", w }'
}

# emu_one MODEL: the checks a-c, lines into $W/log/NAME.emu
emu_one() {
    m=$1
    name=$(basename "$m" .nn)
    log=$W/log/$name.emu
    p=$W/$name
    flags="--epochs 20"
    gc=1
    if grep -q 'idx(' "$m"; then
        if [ -z "$D" ]; then
            echo "skip emulation $name: $FM is not installed (sh scripts/deps.sh data)" >"$log"
            return
        fi
        flags="$D --epochs 2"
        # a convolutional net (lenet, fashion_cnn) costs minutes an epoch
        # emulated: one epoch of the 1000 rows is 20 steps or more
        grep -q 'conv(' "$m" && flags="$D --epochs 1"
        gc=0
    fi
    : >"$log"
    if ! $NNC "$m" --target cuda -o "$p.cu" 2>"$p.err" && echo " $CUDA_REFUSED " | grep -q " $name " &&
       grep -q "is not supported by --target cuda yet" "$p.err"; then
        # a model the CUDA target does not take yet (CUDA_REFUSED): skipped,
        # where the refusal is one line that leaves no file
        if [ "$(wc -l <"$p.err")" -eq 1 ] && [ ! -e "$p.cu" ]; then
            echo "skip emulation $name: nnc --target cuda refuses it in one line:$(cut -d: -f4- "$p.err")" >"$log"
        else
            echo "FAIL emulation $name: nnc --target cuda refuses it, but not in one line leaving no file:" >"$log"
            head -3 "$p.err" | sed 's/^/     /' >>"$log"
        fi
        return
    fi
    if [ ! -e "$p.cu" ] || ! sh tests/cuda/mock/cu2cpp.sh "$p.cu" "$p.cpp" ||
       ! $MOCK -c -o "$p.mock.o" "$p.cpp" 2>>"$p.err" ||
       ! $CXX -o "$p.mock" "$p.mock.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm 2>>"$p.err"; then
        echo "FAIL emulation $name: does not build against the emulation:" >>"$log"
        head -20 "$p.err" | sed 's/^/     /' >>"$log"
        return
    fi
    if ! $NNC "$m" -o "$p.c" 2>>"$p.err" || ! $NNC "$m" --blas none -o "$p.none.c" 2>>"$p.err" ||
       ! cc -std=c99 -O2 -Iruntime -o "$p.steps" "$p.c" tests/cuda/c_steps.c build/libnnrt.a $BLAS_LIBS -lz -lm 2>>"$p.err" ||
       ! cc -std=c99 -O2 -Iruntime -o "$p.steps_none" "$p.none.c" tests/cuda/c_steps.c build/libnnrt.a -lz -lm 2>>"$p.err"; then
        echo "FAIL emulation $name: the C reference does not build:" >>"$log"
        head -20 "$p.err" | sed 's/^/     /' >>"$log"
        return
    fi
    # a. step losses against the C program's
    "$p.steps" $flags >"$p.c_steps" 2>>"$p.err"
    "$p.steps_none" $flags >"$p.none_steps" 2>>"$p.err"
    NNRT_STEP_LOG="$p.g_steps" "$p.mock" $flags --save "$p.graph.st" >"$p.out" 2>&1
    rc=$?
    w=$(worst_rel "$p.c_steps" "$p.g_steps")
    spread=$(worst_rel "$p.c_steps" "$p.none_steps")
    if [ $rc -ne 0 ] || [ "$w" = short ] || [ "$spread" = short ]; then
        echo "FAIL emulation $name: the run failed (exit $rc) or logged fewer than 20 steps:" >>"$log"
        tail -5 "$p.out" | sed 's/^/     /' >>"$log"
    elif awk "BEGIN { exit !($w <= 1e-4 || $w <= 4 * $spread) }"; then
        echo "ok   emulation $name: first 20 losses within $w of the C program's (C with its two GEMMs: $spread)" >>"$log"
    else
        echo "FAIL emulation $name: first 20 losses differ from the C program's by $w (C with its two GEMMs: $spread)" >>"$log"
    fi
    # b. the graph loop against the runtime's loop over the same kernels
    NNRT_CUDA_HOST_LOOP=1 "$p.mock" $flags --save "$p.host.st" >"$p.host.out" 2>&1
    if cmp -s "$p.graph.st" "$p.host.st"; then
        echo "ok   emulation $name: graph-replayed training saves the checkpoint the runtime's own loop saves, byte for byte" >>"$log"
    else
        echo "FAIL emulation $name: graph-replayed and host-driven training save different checkpoints" >>"$log"
    fi
    # c. the gradient check through the device forward; where it fails, the
    #    C program's own verdict on the same model tells whose failure it is
    [ $gc -eq 1 ] || return
    if "$p.mock" --gradcheck $flags >"$p.gc" 2>&1; then
        echo "ok   emulation $name: --gradcheck $(tail -1 "$p.gc" | sed 's/^gradcheck: //')" >>"$log"
        return
    fi
    cc -std=c99 -O2 -Iruntime -o "$p.cprog" "$p.c" build/libnnrt.a $BLAS_LIBS -lz -lm 2>>"$p.err"
    "$p.cprog" --gradcheck $flags >"$p.cgc" 2>&1
    if [ $? -ne 0 ] && [ "$(tail -1 "$p.gc")" = "$(tail -1 "$p.cgc")" ]; then
        echo "ok   emulation $name: --gradcheck fails as the C program's does, with the same figures ($(tail -1 "$p.gc" | sed 's/^gradcheck: //')): not a matter of the CUDA target" >>"$log"
    else
        echo "FAIL emulation $name: --gradcheck failed (the C program's: $(tail -1 "$p.cgc")):" >>"$log"
        tail -5 "$p.gc" | sed 's/^/     /' >>"$log"
    fi
}

n=0
for m in $EMU_MODELS; do
    emu_one "$m" &
    n=$((n + 1))
    [ $((n % JOBS)) -eq 0 ] && wait
done
wait
for m in $EMU_MODELS; do tally "$W/log/$(basename "$m" .nn).emu"; done

# twolayer to its targets, as the C program reaches them
field() { sed -n "s/^done:.*| $2 \([-0-9.naifNIF]*\).*/\1/p" "$1" | tail -1; }
if [ -x "$W/twolayer.mock" ]; then
    "$W/twolayer.mock" >"$W/twolayer.full" 2>&1
    l=$(field "$W/twolayer.full" loss)
    a=$(field "$W/twolayer.full" acc)
    if [ -n "$l" ] && [ -n "$a" ] && awk "BEGIN { exit !($l <= 0.14 && $a >= 0.96) }"; then
        ok "emulation twolayer: trained as its train block says: loss $l <= 0.14, acc $a >= 0.96"
    else
        bad "emulation twolayer: loss '$l' acc '$a' miss loss <= 0.14, acc >= 0.96"
    fi
fi

# resume: 3 epochs saved, resumed to 6, against 6 in one go
notime() { sed -e 's/| time [0-9.]*s //' -e 's/ in [0-9.]*s.*us a step) | / | /' "$1"; }
p=$W/ops_shapes
if [ -x "$p.mock" ]; then
    "$p.mock" --epochs 3 --save "$p.half.st" >/dev/null 2>&1
    "$p.mock" --epochs 6 --load "$p.half.st" >"$p.resumed" 2>&1
    "$p.mock" --epochs 6 >"$p.whole" 2>&1
    notime "$p.resumed" | grep -v '^resumed from' >"$p.resumed.nt"
    notime "$p.whole" | sed -n '4,$p' >"$p.whole.nt"
    if [ -s "$p.whole.nt" ] && cmp -s "$p.resumed.nt" "$p.whole.nt"; then
        ok "emulation ops_shapes: resumed after 3 epochs, prints what an unbroken run of 6 prints"
    else
        bad "emulation ops_shapes: the resumed run differs from the unbroken one"
    fi
fi

# an interrupt: SIGTERM (a background job of sh ignores SIGINT, and the
# trainer leaves an ignored signal alone) once the CSV log has 2 rows;
# exit 130, the checkpoint at the step reached (--log-every 25 ends the
# driver's runs of steps inside an epoch, so the stop can fall there: the
# 75 steps of an epoch are otherwise one run), and --load of it run to
# E+2 epochs saves what an unbroken run of E+2 saves, byte for byte; then
# a --load with nothing left; and the progress line on a terminal (script)
p=$W/long_spiral
if $NNC tests/interrupt/long_spiral.nn --target cuda -o "$p.cu" 2>/dev/null && sh tests/cuda/mock/cu2cpp.sh "$p.cu" "$p.cpp" &&
   $MOCK -c -o "$p.o" "$p.cpp" && $CXX -o "$p.mock" "$p.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm; then
    "$p.mock" --epochs 100000 --log-every 25 --log-csv "$p.csv" --save "$p.int.st" >"$p.int.out" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 600 ] && [ "$( (wc -l <"$p.csv") 2>/dev/null || echo 0)" -lt 3 ] && kill -0 $pid 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -TERM $pid 2>/dev/null
    wait $pid
    rc=$?
    e=$(head -c 200 "$p.int.st" 2>/dev/null | grep -ao '"epoch":"[0-9]*"' | grep -o '[0-9][0-9]*')
    b=$(head -c 200 "$p.int.st" 2>/dev/null | grep -ao '"batch":"[0-9]*"' | grep -o '[0-9][0-9]*')
    if [ $rc -ne 130 ] || [ -z "$e" ] || ! grep -q "interrupted by SIGTERM.*saved $p.int.st; resume with: .* --load $p.int.st" "$p.int.out"; then
        bad "emulation long_spiral: SIGTERM: exit $rc, want 130 and the resume line: $(tail -1 "$p.int.out")"
    else
        "$p.mock" --epochs $((e + 2)) --load "$p.int.st" --save "$p.res.st" >"$p.res.out" 2>&1
        "$p.mock" --epochs $((e + 2)) --save "$p.whole.st" >/dev/null 2>&1
        "$p.mock" --epochs $((e + 2)) --load "$p.whole.st" >"$p.none.out" 2>&1
        rc2=$?
        if ! cmp -s "$p.res.st" "$p.whole.st"; then
            bad "emulation long_spiral: stopped at epoch $e batch ${b:-0} and resumed to $((e + 2)): not the unbroken run's checkpoint"
        elif [ $rc2 -ne 0 ] || ! grep -q "^nothing left to train: $p.whole.st is at epoch $((e + 2))" "$p.none.out"; then
            bad "emulation long_spiral: --load at --epochs: exit $rc2: $(head -2 "$p.none.out")"
        else
            ok "emulation long_spiral: SIGTERM at epoch $e batch ${b:-0}: exit 130; resumed to $((e + 2)) epochs, the unbroken run's checkpoint byte for byte; --load at --epochs: nothing left, exit 0"
        fi
    fi
    if command -v script >/dev/null 2>&1; then
        script -qc "$p.mock --epochs 3" /dev/null >"$p.tty" 2>&1
        if grep -q "$(printf '\r')epoch 2/3 | step [0-9]*/75 | .* | ETA " "$p.tty" && ! grep -q '^| epoch' "$p.tty"; then
            ok "emulation long_spiral: on a terminal, the progress line redrawn in place (carriage returns) with an ETA"
        else
            bad "emulation long_spiral: on a terminal, no redrawn progress line: $(tr '\r' '~' <"$p.tty" | head -c 300)"
        fi
    fi
fi

# a NaN loss: exit 3 with the C program's message
if $NNC tests/e2e/nan_lr.nn --target cuda -o "$W/nan_lr.cu" 2>/dev/null && sh tests/cuda/mock/cu2cpp.sh "$W/nan_lr.cu" "$W/nan_lr.cpp" &&
   $MOCK -c -o "$W/nan_lr.o" "$W/nan_lr.cpp" && $CXX -o "$W/nan_lr.mock" "$W/nan_lr.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm; then
    "$W/nan_lr.mock" >"$W/nan.out" 2>&1
    rc=$?
    if [ $rc -eq 3 ] && grep -q "nnrt: loss is nan at epoch 1 step" "$W/nan.out"; then
        ok "emulation nan_lr: a NaN loss stops training with exit 3: $(grep 'loss is' "$W/nan.out")"
    else
        bad "emulation nan_lr: exit $rc, expected 3 and the epoch and step of the NaN"
    fi
fi

# a NaN stop still saves the checkpoint asked for, of the last epoch boundary:
# the same bytes as an unbroken one-epoch run's
if $NNC tests/e2e/nan_late.nn --target cuda -o "$W/nan_late.cu" 2>/dev/null &&
   sh tests/cuda/mock/cu2cpp.sh "$W/nan_late.cu" "$W/nan_late.cpp" && $MOCK -c -o "$W/nan_late.o" "$W/nan_late.cpp" &&
   $CXX -o "$W/nan_late.mock" "$W/nan_late.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm; then
    "$W/nan_late.mock" --save "$W/nan_late.ckpt" >"$W/nan_late.out" 2>&1
    rc=$?
    "$W/nan_late.mock" --epochs 1 --save "$W/nan_late1.ckpt" >/dev/null 2>&1
    if [ $rc -eq 3 ] && grep -q "saved $W/nan_late.ckpt: the state at the end of epoch 1 (step 10)" "$W/nan_late.out" &&
       cmp -s "$W/nan_late.ckpt" "$W/nan_late1.ckpt"; then
        ok "emulation nan_late: exit 3 at epoch 2, the checkpoint of epoch 1 equals a one-epoch run's"
    else
        bad "emulation nan_late: exit $rc; want 3 and a checkpoint of epoch 1 equal to a one-epoch run's: $(tail -1 "$W/nan_late.out")"
    fi
fi

# --init-from: the C program's checkpoint, loaded into the device model's
# host mirrors and uploaded, gives the C program's loss and accuracy (the
# graph loop and the runtime's loop both), and its optimizer state is named
# in a warning, not loaded
p=$W/spiral_mlp
if [ -x "$p.mock" ] && $NNC models/spiral_mlp.nn -o "$p.cbin" 2>/dev/null; then
    "$p.cbin" --epochs 30 --save "$p.c30.st" >"$p.c30.out" 2>&1
    "$p.mock" --init-from "$p.c30.st" --epochs 0 >"$p.init.out" 2>"$p.init.err"
    rc=$?
    NNRT_CUDA_HOST_LOOP=1 "$p.mock" --init-from "$p.c30.st" --epochs 0 >"$p.init_host.out" 2>/dev/null
    cl=$(field "$p.c30.out" loss) ca=$(field "$p.c30.out" acc)
    gl=$(field "$p.init.out" loss) ga=$(field "$p.init.out" acc)
    hl=$(field "$p.init_host.out" loss)
    if [ $rc -eq 0 ] && [ -n "$cl" ] && [ "$gl" = "$cl" ] && [ "$ga" = "$ca" ] && [ "$hl" = "$cl" ] &&
       grep -q "warning: .*opt\." "$p.init.err"; then
        ok "emulation spiral_mlp --init-from the C program's checkpoint: loss $gl acc $ga, the C program's (host loop: $hl)"
    else
        bad "emulation spiral_mlp --init-from: exit $rc, loss '$gl' acc '$ga' (host loop '$hl'), the C program's '$cl' '$ca': $(head -1 "$p.init.err")"
    fi
fi

# --predict through the device's forward (it goes through the runtime's
# loop): the C program's checkpoint of tests/predict/clf.nn, every output
# and class within 1e-5 of tests/predict/ref.py's forward pass
pc=$W/clf
if $NNC tests/predict/clf.nn --target cuda -o "$pc.cu" 2>"$pc.err" && sh tests/cuda/mock/cu2cpp.sh "$pc.cu" "$pc.cpp" &&
   $MOCK -c -o "$pc.o" "$pc.cpp" 2>>"$pc.err" &&
   $CXX -o "$pc.mock" "$pc.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm 2>>"$pc.err" &&
   $NNC tests/predict/clf.nn -o "$pc.cbin" 2>>"$pc.err" && "$pc.cbin" --save "$pc.st" --quiet >/dev/null 2>>"$pc.err"; then
    "$pc.mock" --load "$pc.st" --predict tests/predict/train.csv --out "$pc.csv" >"$pc.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && r=$(python3 tests/predict/ref.py check "$pc.st" tests/predict/train.csv "$pc.csv" \
            --layers W1,b1,tanh/W2,b2,none --in-dim 4 --header --label-col -1); then
        ok "emulation clf --predict with the C program's checkpoint: $r"
    else
        bad "emulation clf --predict: exit $rc: $(head -2 "$pc.out") ${r:-}"
    fi
else
    bad "emulation clf: does not build or train: $(head -3 "$pc.err")"
fi

# i32 inputs (tests/e2e/bag_ids.nn, ids for E[ids]): an id outside [0, V)
# in the training file is refused at load time naming the file, the line
# and the column, exit 1; --predict with the C program's checkpoint gives
# the C program's outputs (within 1e-5) and classes, and refuses an id
# outside [0, V) in the file it reads
pb=$W/bag_ids
if [ -x "$pb.mock" ] && $NNC tests/e2e/bag_ids.nn -o "$pb.cbin" 2>"$pb.ids.err"; then
    { head -4 tests/e2e/bag_ids.csv; echo "3,20,1,2,0,5,1"; } >"$pb.bad.csv"
    "$pb.mock" --data "$pb.bad.csv" --epochs 1 >"$pb.bad.out" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "nnrt: $pb.bad.csv: line 5, column 2: id 20 is outside \[0, 20)" "$pb.bad.out"; then
        ok "emulation bag_ids: an id outside [0, 20) refused at load, exit 1: $(grep -o "nnrt: .*" "$pb.bad.out" | sed "s|$W/||")"
    else
        bad "emulation bag_ids: id 20 in the training file: exit $rc: $(tail -1 "$pb.bad.out")"
    fi
    "$pb.cbin" --epochs 5 --save "$pb.c5.st" --quiet >/dev/null 2>>"$pb.ids.err"
    cut -d, -f1-6 tests/e2e/bag_ids_test.csv >"$pb.in.csv"
    "$pb.cbin" --load "$pb.c5.st" --predict "$pb.in.csv" --out "$pb.c.pred" >/dev/null 2>>"$pb.ids.err"
    "$pb.mock" --load "$pb.c5.st" --predict "$pb.in.csv" --out "$pb.g.pred" >/dev/null 2>>"$pb.ids.err"
    rc=$?
    cmp_pred=$(paste -d, "$pb.c.pred" "$pb.g.pred" | awk -F, 'NR > 1 {
        for (j = 1; j <= 3; j++) { d = $j - $(j + 4); if (d < 0) d = -d; if (d > w) w = d }
        if ($4 != $8) bad++; rows++ }
        END { if (rows < 1 || bad) print "bad"; else printf "%d rows, worst %.2g\n", rows, w }')
    printf '1,0,4,4,4,0\n3,2,1,2,0,-1\n' >"$pb.neg.csv"
    "$pb.mock" --load "$pb.c5.st" --predict "$pb.neg.csv" >"$pb.neg.out" 2>&1
    rc2=$?
    if [ $rc -eq 0 ] && [ "$cmp_pred" != bad ] && [ -n "$cmp_pred" ] && awk "BEGIN { exit !(${cmp_pred##* } <= 1e-5) }" &&
       [ $rc2 -eq 1 ] && grep -q "line 2, column 6: id -1 is outside \[0, 20)" "$pb.neg.out"; then
        ok "emulation bag_ids --predict with the C program's checkpoint: the C program's classes, outputs within 1e-5 ($cmp_pred); an id of -1 refused"
    else
        bad "emulation bag_ids --predict: exit $rc ($cmp_pred), id -1: exit $rc2: $(tail -1 "$pb.neg.out")"
    fi
else
    bad "emulation bag_ids: the emulated or the C program does not build: $(head -2 "$pb.ids.err" 2>/dev/null)"
fi

# batch norm (tests/e2e/bn_bars.nn): early stopping puts back the running
# statistics with the best params (validation=0.25, a rate that stops it
# after epoch 2): the summary is the C program's; --predict with the C
# program's checkpoint (params and running statistics) gives its outputs
# within 1e-5 and its classes
pn=$W/bn_early
sed -e 's/optimizer = momentum(lr=0.1);/optimizer = momentum(lr=0.8);\n  validation = 0.25;\n  early_stopping = true;/' \
    tests/e2e/bn_bars.nn >"$pn.nn"
if [ -x "$W/bn_bars.mock" ] && $NNC "$pn.nn" --target cuda -o "$pn.cu" 2>"$pn.err" && sh tests/cuda/mock/cu2cpp.sh "$pn.cu" "$pn.cpp" &&
   $MOCK -c -o "$pn.o" "$pn.cpp" 2>>"$pn.err" && $CXX -o "$pn.mock" "$pn.o" "$W/nnrt_cuda.o" build/libnnrt.a $BLAS_LIBS -lz -lm 2>>"$pn.err" &&
   $NNC "$pn.nn" -o "$pn.cbin" 2>>"$pn.err" && $NNC tests/e2e/bn_bars.nn -o "$W/bn_bars.cbin" 2>>"$pn.err"; then
    "$pn.cbin" >"$pn.c.out" 2>&1
    "$pn.mock" >"$pn.g.out" 2>&1
    c=$(grep '^done:' "$pn.c.out" | sed 's/ in [0-9.]*s.*us a step) | / | /')
    g=$(grep '^done:' "$pn.g.out" | sed 's/ in [0-9.]*s.*us a step) | / | /')
    if grep -q '^early stop at epoch 2: .*best params restored' "$pn.g.out" && [ -n "$c" ] && [ "$c" = "$g" ]; then
        ok "emulation bn_bars early stopping: the best params and running statistics restored: $g, the C program's"
    else
        bad "emulation bn_bars early stopping: '$g', the C program's '$c'"
    fi
    "$W/bn_bars.cbin" --epochs 5 --save "$pn.c5.st" --quiet >/dev/null 2>>"$pn.err"
    "$W/bn_bars.cbin" --load "$pn.c5.st" --predict tests/e2e/bars8.csv --out "$pn.c.pred" >/dev/null 2>>"$pn.err"
    "$W/bn_bars.mock" --load "$pn.c5.st" --predict tests/e2e/bars8.csv --out "$pn.g.pred" >/dev/null 2>>"$pn.err"
    cmp_pred=$(paste -d, "$pn.c.pred" "$pn.g.pred" | awk -F, 'NR > 1 {
        for (j = 1; j <= 3; j++) { d = $j - $(j + 4); if (d < 0) d = -d; a = $j < 0 ? -$j : $j; if (a > 1) d /= a; if (d > w) w = d }
        if ($4 != $8) bad++; rows++ }
        END { if (rows < 1 || bad) print "bad"; else printf "%d rows, worst %.2g\n", rows, w }')
    if [ "$cmp_pred" != bad ] && [ -n "$cmp_pred" ] && awk "BEGIN { exit !(${cmp_pred##* } <= 1e-5) }"; then
        ok "emulation bn_bars --predict with the C program's checkpoint (its running statistics): the C program's classes, outputs within 1e-5 ($cmp_pred)"
    else
        bad "emulation bn_bars --predict: '$cmp_pred' against the C program's"
    fi
else
    bad "emulation bn_bars early stopping: does not build: $(head -2 "$pn.err" 2>/dev/null)"
fi

# --plot from the device loop: the chart of a 5-epoch run, rendered and
# checked as tests/run_plot.sh checks the C program's
if [ -x "$p.mock" ] && command -v rsvg-convert >/dev/null 2>&1; then
    "$p.mock" --epochs 5 --quiet --plot "$p.svg" >/dev/null 2>"$p.plot.err"
    rc=$?
    if [ $rc -eq 0 ] && rsvg-convert "$p.svg" -o "$p.png" 2>>"$p.plot.err" &&
       python3 tests/e2e/svg_check.py "$p.svg" "$p.png" spiral_mlp 2 train=1f77b4 train=1f77b4 >"$p.plot.check" 2>&1; then
        ok "emulation spiral_mlp --plot: $(cat "$p.plot.check")"
    else
        bad "emulation spiral_mlp --plot: exit $rc: $(cat "$p.plot.err" "$p.plot.check" 2>/dev/null | head -2)"
    fi
elif [ -x "$p.mock" ]; then
    bad "emulation spiral_mlp --plot: rsvg-convert is missing (sh scripts/deps.sh installs librsvg2-bin)"
fi

# tabular data (tests/e2e/iris_like.nn): normalize="column", and
# validation=0.1 with the held-out rows evaluated on the device: the checks
# a-c without and with the validation line, then the whole run to the C
# program's targets
sed '/validation/d' tests/e2e/iris_like.nn >"$W/iris_like_col.nn"
emu_one "$W/iris_like_col.nn"
tally "$W/log/iris_like_col.emu"
emu_one tests/e2e/iris_like.nn
tally "$W/log/iris_like.emu"
if [ -x "$W/iris_like.mock" ]; then
    "$W/iris_like.mock" >"$W/iris_like.out" 2>&1
    rc=$?
    ta=$(field "$W/iris_like.out" "test acc")
    va=$(field "$W/iris_like.out" "val acc")
    if [ $rc -eq 0 ] && [ -n "$va" ] && [ -n "$ta" ] && awk "BEGIN { exit !($ta >= 0.90) }" &&
       grep -q '^done: 40 epochs, 360 steps' "$W/iris_like.out"; then
        ok "emulation iris_like: validation=0.1 on the device: 360 steps on 135 rows, val acc $va, test acc $ta >= 0.90"
    else
        bad "emulation iris_like: exit $rc: $(tail -1 "$W/iris_like.out") (want val figures, 360 steps, test acc >= 0.90)"
    fi
else
    bad "emulation iris_like: does not build against the emulation"
fi

echo "run_cuda_build: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$W"
else
    echo "     (work and logs kept in $W)"
fi
[ "$fail" -eq 0 ]
