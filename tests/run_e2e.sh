#!/bin/sh
# tests/run_e2e.sh: the emitted trainers, end to end, against their targets.
#
# Each models/NAME.nn is built into a program (build/nnc M.nn -o
# build/e2e/run.PID/NAME) and run; the summary line
#     done: E epochs, S steps in T s | loss L | acc A [| test loss TL | test acc TA]
# is checked against the targets:
#   - twolayer: loss <= 0.14 and acc >= 0.96 (the peers: 0.1296, 0.973);
#     spiral_mlp: loss <= 0.10 and acc >= 0.96 (DeZero: about 0.04);
#   - xor, and, or, nand: every row right (acc 1.0000);
#   - topics (token ids, models/data/topics.csv): test acc >= 0.90;
#   - fashion_relu: test acc >= 0.855, peak memory < 80 MB (/usr/bin/time);
#     softmax_regression, mnist_sigmoid, mnist_tanh, mnist_tanh_dropout:
#     test acc >= 0.80 (each with its own epochs: 5, 17, and up to 30
#     for the tanh models, which stop early after a few);
#   - --gradcheck exits 0 for every model (lenet on MNIST from data/mnist,
#     which make mnist fetches; its accuracy target is
#     tests/run_accuracy.sh's);
#   - poison: each emitted file built with and without -DNNC_POISON and run
#     with the same flags (MNIST models: --epochs 1; lenet and fashion_cnn
#     one epoch on the first 640 images of their data) prints the same lines, times aside: every progress loss bit
#     for bit;
#   - checkpoints: xor's checkpoint passes tests/e2e/st_read.py (an
#     independent safetensors reader), whose own evaluation of the saved
#     network gives the program's loss and accuracy, and --load of it with
#     --epochs 0 gives them again; spiral_mlp saved after 10 epochs and
#     resumed to 20 prints the same progress lines as an unbroken run of 20;
#     a checkpoint of another model, or one with a wrong shape, is refused,
#     and so is one whose header length is a byte short or that has bytes
#     after its last tensor;
#   - bad inputs: a missing data file, a wrong IDX magic, a truncated IDX
#     (raw and gzip), images that do not fit the model's input, a CSV field
#     that is not a number: one line on stderr naming the file, exit 1, and
#     a pre-existing --save target keeps its bytes; a NaN loss: exit 3 with
#     the epoch and step (the checkpoint a NaN stop still writes is checked
#     by tests/run_output.sh);
#   - tabular data (tests/e2e/iris_like.nn on iris_like.csv, made by
#     gen_iris_like.py): class names (quoted, with a comma and quotes),
#     normalize="column" and validation=0.1 reach test acc >= 0.90 in 360
#     steps (135 of 150 rows trained on), with the val figures in the
#     summary and the CSV log; the checkpoint's column figures and class
#     names equal what Python's csv and statistics modules compute
#     (iris_figures.py); a header row of numbers draws one warning; an
#     unknown or extra class name, an open quote and a validation that
#     holds out nothing are refused with the place;
#   - token ids (tests/e2e/bag_ids.nn on bag_ids.csv, made by
#     gen_bag_ids.py): an i32 input read from CSV integer columns, the
#     embedding gather E[ids] and its scatter-add reach test acc >= 0.90
#     in 120 steps; --predict writes a line per row; an id equal to the
#     vocabulary size (in training data and in --predict's file) and an id
#     that is not an integer are refused with the file, line and column;
#   - hostile data, the same way (exit 1, one line with the place and the
#     likely cause, target kept): 1-based CSV class ids
#     (tests/e2e/labels_1based.csv), a CSV id of 2^24 + 1 (label_2p24.csv:
#     no float rounding), an IDX label of 10 for 10 classes, an empty IDX
#     set, a gzip IDX with its CRC/length trailer cut or bytes after it, a
#     16-byte IDX header claiming 13 GB and a 350 KB CSV of 10,000 columns
#     and 330,000 blank lines (both under ulimit -v 2000000: nothing may be
#     allocated from the claim); and library mode (tests/e2e/lib_ids.c):
#     spiral_mlp_train_step and _loss return NaN for an id outside
#     [0, SPIRAL_MLP_CLASSES) and change nothing; bag_ids' library
#     (tests/e2e/lib_input_ids.c, under ASan and UBSan where $CC has them):
#     an input id outside [0, BAG_IDS_VOCAB) makes train_step and loss
#     return NaN and predict -1, changing nothing;
#   - constant gradients (tests/e2e/const_grads.nn: gradients that fold to
#     constants, the seed dL/dL, other params): --gradcheck exits 0 with
#     OpenBLAS and --blas none, and library mode's first Adam step moves
#     every float against its gradient by differences (lib_grads.c);
#   - a [3000, 3000] constant (tests/e2e/big_const.nn): nnc within 2 s, a
#     .c under 1 MB that builds and trains an epoch to a finite loss.
# One line per check ("ok   ..." or "FAIL ..."), the measured figures, a
# tally; exit 1 if any check failed.  Run from the repository root after
# `make` (make test does both).  Takes about a minute on two cores.
#
# Everything is built and written under build/e2e/run.PID (programs,
# checkpoints, logs in log/), so two runs in one tree do not trample each
# other; the directory is removed when every check passed and kept, with
# its logs, when one failed.  The compiler and the runtime are used from a
# copy made there at the start (bin/nnc, bin/libnnrt.a, runtime/nnrt.h: the
# layout nnc finds its runtime in), so a rebuild during the run changes
# nothing.
E=build/e2e/run.$$
NNC=$E/bin/nnc
FM=/usr/share/datasets/fashion-mnist
MNIST="fashion_relu softmax_regression mnist_sigmoid mnist_tanh mnist_tanh_dropout"
wrap=""
pass=0
fail=0
# One BLAS thread: the same sums in every run (and faster on a busy machine).
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS

ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# le A B, ge A B, near A B TOL: numeric comparisons (awk; false on empty input)
le() { [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { exit !($1 <= $2) }"; }
ge() { [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { exit !($1 >= $2) }"; }
near() { [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { d = $1 - $2; if (d < 0) d = -d; exit !(d <= $3) }"; }
# field FILE NAME: the value after "| NAME " on the summary line of FILE
field() { sed -n "s/^done:.*| $2 \([-0-9.naifNIF]*\).*/\1/p" "$1" | tail -1; }
# notime: progress and summary lines with the times taken out
notime() { sed -e 's/| time [0-9.]*s //' -e 's/ in [0-9.]*s\( ([0-9.]* us a step)\)\{0,1\} | / | /' "$1"; }
now() { date +%s.%N 2>/dev/null | sed 's/N$/0/'; }
secs() { awk "BEGIN { printf \"%.2f\", $2 - $1 }"; }

# run LABEL PROG ARGS...: stdout to $out = $E/log/LABEL.out, stderr to
# $err = $E/log/LABEL.err (LABEL with odd characters made _), exit status
# in $rc, wall time in $wall.
run() {
    out="$E/log/$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_')"
    err="$out.err"
    out="$out.out"
    shift
    t0=$(now)
    "$@" >"$out" 2>"$err"
    rc=$?
    wall=$(secs "$t0" "$(now)")
}

if [ ! -x build/nnc ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL build/nnc or build/libnnrt.a is missing: run make first"
    exit 1
fi
rm -rf "$E"
mkdir -p "$E/log" "$E/bin" "$E/runtime" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM
if ! cp build/nnc build/libnnrt.a "$E/bin/" || ! cp runtime/nnrt.h "$E/runtime/"; then
    echo "FAIL cannot copy build/nnc, build/libnnrt.a and runtime/nnrt.h into $E"
    exit 1
fi
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
    sh scripts/deps.sh data >/dev/null 2>&1
fi
have_fm=1
[ -f "$FM/train-images-idx3-ubyte.gz" ] || have_fm=0
# MNIST's digits for models/lenet.nn (data/mnist: make mnist); its poison
# runs take the first 640 training and 200 test images ($DIGITS_SMALL),
# its gradcheck the first batch of the training set, its accuracy target
# is tests/run_accuracy.sh's
DIGITS=data/mnist
[ -f "$DIGITS/train-images-idx3-ubyte" ] || sh scripts/deps.sh mnist >/dev/null 2>&1
have_digits=0
DIGITS_SMALL=""
if [ -f "$DIGITS/train-images-idx3-ubyte" ] &&
   python3 tests/cuda/idx_head.py "$DIGITS/train-images-idx3-ubyte" "$E/digits-img" 640 &&
   python3 tests/cuda/idx_head.py "$DIGITS/train-labels-idx1-ubyte" "$E/digits-lab" 640 &&
   python3 tests/cuda/idx_head.py "$DIGITS/t10k-images-idx3-ubyte" "$E/digits-test-img" 200 &&
   python3 tests/cuda/idx_head.py "$DIGITS/t10k-labels-idx1-ubyte" "$E/digits-test-lab" 200; then
    have_digits=1
    DIGITS_SMALL="--data $E/digits-img,$E/digits-lab --test $E/digits-test-img,$E/digits-test-lab"
else
    bad "MNIST is not in $DIGITS for models/lenet.nn (make mnist fetches it)"
fi
# models/fashion_cnn.nn: the same for its poison runs and gradcheck, on the
# first 640 and 200 images of Fashion-MNIST ($FASHION_SMALL; the gradcheck's
# first batch is the full set's); its accuracy target is run_accuracy.sh's
FASHION_SMALL=""
if [ "$have_fm" -eq 1 ] &&
   python3 tests/cuda/idx_head.py "$FM/train-images-idx3-ubyte.gz" "$E/fashion-img" 640 &&
   python3 tests/cuda/idx_head.py "$FM/train-labels-idx1-ubyte.gz" "$E/fashion-lab" 640 &&
   python3 tests/cuda/idx_head.py "$FM/t10k-images-idx3-ubyte.gz" "$E/fashion-test-img" 200 &&
   python3 tests/cuda/idx_head.py "$FM/t10k-labels-idx1-ubyte.gz" "$E/fashion-test-lab" 200; then
    FASHION_SMALL="--data $E/fashion-img,$E/fashion-lab --test $E/fashion-test-img,$E/fashion-test-lab"
fi

# ---- building every trainer ---------------------------------------------------
built=""
for src in models/*.nn tests/e2e/img100.nn tests/e2e/csv3.nn tests/e2e/nan_lr.nn tests/e2e/xor_wide.nn \
           tests/e2e/iris_like.nn tests/e2e/bag_ids.nn; do
    name=$(basename "$src" .nn)
    if "$NNC" "$src" -o "$E/$name" 2>"$E/log/build-$name.err"; then
        built="$built $name "
    else
        bad "build $name: $NNC $src -o $E/$name failed:"
        head -5 "$E/log/build-$name.err" | sed 's/^/     /'
    fi
done
is_built() { case "$built" in *" $1 "*) return 0 ;; esac; return 1; }

# ---- targets -------------------------------------------------------------------
# train NAME [ARGS...]: runs $E/NAME (under $wrap, if set); on exit 0 sets
# $loss $acc $tloss $tacc from its summary line, $train_secs (its own
# timing), $epochs and $wall.
train() {
    name=$1
    shift
    loss="" acc="" tloss="" tacc=""
    if ! is_built "$name"; then
        bad "$name: not built"
        return 1
    fi
    run "$name" $wrap "$E/$name" "$@"
    if [ "$rc" -ne 0 ]; then
        bad "$name: exit $rc: $(head -1 "$err")"
        return 1
    fi
    loss=$(field "$out" loss)
    acc=$(field "$out" acc)
    tloss=$(field "$out" "test loss")
    tacc=$(field "$out" "test acc")
    train_secs=$(sed -n 's/^done:.* in \([0-9.]*\)s.*/\1/p' "$out")
    epochs=$(sed -n 's/^done: \([0-9]*\) epochs.*/\1/p' "$out")
    return 0
}

if train twolayer; then
    if le "$loss" 0.14 && ge "$acc" 0.96; then
        ok "twolayer: loss $loss <= 0.14, acc $acc >= 0.96 (training ${train_secs}s, run ${wall}s wall)"
    else
        bad "twolayer: loss $loss (want <= 0.14), acc $acc (want >= 0.96)"
    fi
fi
if train spiral_mlp; then
    if le "$loss" 0.10 && ge "$acc" 0.96; then
        ok "spiral_mlp: loss $loss <= 0.10, acc $acc >= 0.96 (training ${train_secs}s, run ${wall}s wall)"
    else
        bad "spiral_mlp: loss $loss (want <= 0.10), acc $acc (want >= 0.96)"
    fi
fi
for name in xor and or nand; do
    if train $name; then
        if [ "$acc" = "1.0000" ]; then
            ok "$name: acc $acc, every row right (loss $loss)"
        else
            bad "$name: acc $acc, want 1.0000 (loss $loss)"
        fi
    fi
done

# topics: a bag of embeddings over token ids (models/data/topics.csv)
if train topics; then
    if ge "$tacc" 0.90; then
        ok "topics: test acc $tacc >= 0.90 (test loss $tloss, loss $loss, acc $acc; training ${train_secs}s)"
    else
        bad "topics: test acc $tacc, want >= 0.90 (test loss $tloss, loss $loss, acc $acc)"
    fi
fi

if [ "$have_fm" -eq 0 ]; then
    bad "Fashion-MNIST is not at $FM (sh scripts/deps.sh data installs dataset-fashion-mnist)"
else
    # fashion_relu under /usr/bin/time -v, for the peak memory
    rss=""
    [ -x /usr/bin/time ] && wrap="/usr/bin/time -v"
    train fashion_relu
    wrap=""
    if [ -x /usr/bin/time ]; then
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$err")
        peak_mb=$(awk "BEGIN { printf \"%.1f\", ${rss:-0} / 1024 }")
    fi
    if [ -n "$tacc" ]; then
        per_epoch=$(awk "BEGIN { printf \"%.2f\", $train_secs / $epochs }")
        if ge "$tacc" 0.855; then
            ok "fashion_relu: test acc $tacc >= 0.855 (test loss $tloss, loss $loss, acc $acc; $epochs epochs in ${train_secs}s, ${per_epoch}s an epoch)"
        else
            bad "fashion_relu: test acc $tacc, want >= 0.855 (test loss $tloss, loss $loss, acc $acc; $epochs epochs in ${train_secs}s, ${per_epoch}s an epoch)"
        fi
        if [ ! -x /usr/bin/time ]; then
            echo "skip fashion_relu peak memory: /usr/bin/time not found"
        elif [ -n "$rss" ] && [ "$rss" -lt 81920 ]; then
            ok "fashion_relu: peak memory ${peak_mb} MB < 80 MB (/usr/bin/time -v: $rss kB)"
        else
            bad "fashion_relu: peak memory ${peak_mb:-?} MB, want < 80 MB (/usr/bin/time -v: ${rss:-?} kB)"
        fi
    fi
    for name in softmax_regression mnist_sigmoid mnist_tanh mnist_tanh_dropout; do
        if train $name; then
            if ge "$tacc" 0.80; then
                ok "$name: test acc $tacc >= 0.80 (test loss $tloss, loss $loss, acc $acc; $epochs epochs in ${train_secs}s)"
            else
                bad "$name: test acc $tacc, want >= 0.80 (test loss $tloss, loss $loss, acc $acc; $epochs epochs)"
            fi
        fi
    done
fi

# ---- --gradcheck ------------------------------------------------------------------
for src in models/*.nn; do
    name=$(basename "$src" .nn)
    case " $MNIST " in *" $name "*) [ "$have_fm" -eq 1 ] || continue ;; esac
    [ "$name" = lenet ] && { [ "$have_digits" -eq 1 ] || continue; }
    flags=""
    [ "$name" = fashion_cnn ] && { [ -n "$FASHION_SMALL" ] || continue; flags=$FASHION_SMALL; }
    is_built "$name" || continue
    run "gradcheck-$name" "$E/$name" --gradcheck $flags
    verdict=$(grep '^gradcheck: worst' "$E/log/gradcheck-$name.out" | tail -1)
    if [ "$rc" -eq 0 ]; then
        ok "gradcheck $name: ${verdict#gradcheck: }"
    else
        bad "gradcheck $name: exit $rc: ${verdict:-$(head -1 "$E/log/gradcheck-$name.err")}"
        grep '^gradcheck .*rel err' "$E/log/gradcheck-$name.out" | sed 's/^/     /'
    fi
done

# ---- poison: the plan and the emitter agree ------------------------------------
CFLAGS_RT=$("$NNC" --cflags)
LIBS_RT=$("$NNC" --libs)
CC=${CC:-cc}
for src in models/*.nn; do
    name=$(basename "$src" .nn)
    flags=""
    case " $MNIST " in *" $name "*) [ "$have_fm" -eq 1 ] || continue; flags="--epochs 1" ;; esac
    [ "$name" = lenet ] && { [ "$have_digits" -eq 1 ] || continue; flags="--epochs 1 $DIGITS_SMALL"; }
    [ "$name" = fashion_cnn ] && { [ -n "$FASHION_SMALL" ] || continue; flags="--epochs 1 $FASHION_SMALL"; }
    if ! "$NNC" "$src" -o "$E/$name.c" 2>"$E/log/emit-$name.err" ||
       ! $CC -std=c99 -O2 $CFLAGS_RT -o "$E/$name.plain" "$E/$name.c" $LIBS_RT 2>"$E/log/cc-$name.err" ||
       ! $CC -std=c99 -O2 -DNNC_POISON $CFLAGS_RT -o "$E/$name.poison" "$E/$name.c" $LIBS_RT 2>>"$E/log/cc-$name.err"; then
        bad "poison $name: building failed: $(cat "$E/log/emit-$name.err" "$E/log/cc-$name.err" 2>/dev/null | head -1)"
        continue
    fi
    run "plain-$name" "$E/$name.plain" $flags
    rc_plain=$rc
    run "poison-$name" "$E/$name.poison" $flags
    notime "$E/log/plain-$name.out" >"$E/log/plain-$name.cmp"
    notime "$E/log/poison-$name.out" >"$E/log/poison-$name.cmp"
    lines=$(grep -c 'loss' "$E/log/plain-$name.cmp")
    if [ "$rc_plain" -ne 0 ]; then
        bad "poison $name: the plain build exits $rc_plain: $(head -1 "$E/log/plain-$name.err")"
    elif [ "$rc" -ne 0 ]; then
        bad "poison $name: the poison build exits $rc (plain: 0): $(head -1 "$E/log/poison-$name.err")"
    elif cmp -s "$E/log/plain-$name.cmp" "$E/log/poison-$name.cmp"; then
        ok "poison $name: $lines loss lines identical${flags:+ ($flags)}, last: $(grep '| loss' "$E/log/plain-$name.cmp" | tail -1 | sed 's/.*| loss \([^ ]*\).*/\1/')"
    else
        bad "poison $name: the loss lines differ${flags:+ ($flags)}:"
        diff "$E/log/plain-$name.cmp" "$E/log/poison-$name.cmp" | head -6 | sed 's/^/     /'
    fi
done

# ---- checkpoints -----------------------------------------------------------------
PY=$(command -v python3)
if is_built xor; then
    rm -f "$E/xor.safetensors" "$E/xor300.safetensors"
    run ckpt-xor "$E/xor" --save "$E/xor.safetensors"
    xloss=$(field "$E/log/ckpt-xor.out" loss)
    xacc=$(field "$E/log/ckpt-xor.out" acc)
    run ckpt-xor300 "$E/xor" --epochs 300 --save "$E/xor300.safetensors"
    x3loss=$(field "$E/log/ckpt-xor300.out" loss)
    x3acc=$(field "$E/log/ckpt-xor300.out" acc)
    if [ -z "$PY" ]; then
        echo "skip st_read.py: python3 not found, skipped"
    else
        for ck in "xor:$xloss:$xacc:5000" "xor300:$x3loss:$x3acc:300"; do
            IFS=: read -r base want_loss want_acc want_epoch <<EOF
$ck
EOF
            f="$E/$base.safetensors"
            if ! "$PY" tests/e2e/st_read.py --mlp-bce h1,h2,h3,p --gate xor "$f" >"$E/log/st-$base.out" 2>"$E/log/st-$base.err"; then
                bad "st_read $f: $(cat "$E/log/st-$base.err")"
                continue
            fi
            tensors=$(grep -c '^tensor ' "$E/log/st-$base.out")
            values=$(grep '^tensor ' "$E/log/st-$base.out" | awk '{ n += NF - 4 } END { print n }')
            meta="$(sed -n 's/^meta model //p' "$E/log/st-$base.out")/$(sed -n 's/^meta epoch //p' "$E/log/st-$base.out")"
            eloss=$(sed -n 's/^eval loss \([^ ]*\) acc .*/\1/p' "$E/log/st-$base.out")
            eacc=$(sed -n 's/^eval loss .* acc //p' "$E/log/st-$base.out")
            if [ "$meta" != "xor/$want_epoch" ]; then
                bad "st_read $f: metadata model/epoch is $meta, want xor/$want_epoch"
            elif near "$eloss" "$want_loss" 0.00015 && [ "$eacc" = "$want_acc" ]; then
                ok "st_read $f: $tensors tensors, $values values, header and offsets valid; its network gives loss $eloss acc $eacc, the program said $want_loss $want_acc"
            else
                bad "st_read $f: its network gives loss $eloss acc $eacc, the program said $want_loss $want_acc"
            fi
            # the program's own view of the file: --load, no more epochs
            run "reload-$base" "$E/xor" --load "$f" --epochs 0
            rloss=$(field "$E/log/reload-$base.out" loss)
            racc=$(field "$E/log/reload-$base.out" acc)
            if [ "$rc" -eq 0 ] && [ "$rloss" = "$want_loss" ] && [ "$racc" = "$want_acc" ]; then
                ok "load $f --epochs 0: loss $rloss acc $racc, as when it was saved"
            else
                bad "load $f --epochs 0: exit $rc, loss $rloss acc $racc, want $want_loss $want_acc: $(head -1 "$E/log/reload-$base.err")"
            fi
        done
        # the reader itself refuses a torn file
        f="$E/xor.safetensors"
        if [ -f "$f" ]; then
            head -c $(($(wc -c <"$f") - 4)) "$f" >"$E/torn.safetensors"
            if "$PY" tests/e2e/st_read.py "$E/torn.safetensors" >/dev/null 2>"$E/log/st-torn.err"; then
                bad "st_read accepts a checkpoint cut short by 4 bytes"
            else
                ok "st_read refuses a checkpoint cut short by 4 bytes: $(cat "$E/log/st-torn.err")"
            fi
        fi
    fi
fi

if is_built spiral_mlp; then
    rm -f "$E/spiral10.safetensors"
    run resume-whole "$E/spiral_mlp" --epochs 20
    notime "$E/log/resume-whole.out" | grep '^| epoch' | sed -n '11,20p' >"$E/log/resume-whole.cmp"
    run resume-first "$E/spiral_mlp" --epochs 10 --save "$E/spiral10.safetensors"
    before=$(field "$E/log/resume-first.out" loss)
    run resume-rest "$E/spiral_mlp" --epochs 20 --load "$E/spiral10.safetensors"
    notime "$E/log/resume-rest.out" | grep '^| epoch' >"$E/log/resume-rest.cmp"
    after=$(sed -n '1s/.*| loss \([^ ]*\).*/\1/p' "$E/log/resume-rest.cmp")
    if [ "$rc" -ne 0 ] || ! grep -q '^resumed from ' "$E/log/resume-rest.out"; then
        bad "resume spiral_mlp: exit $rc: $(head -1 "$E/log/resume-rest.err")"
    elif ! cmp -s "$E/log/resume-whole.cmp" "$E/log/resume-rest.cmp"; then
        bad "resume spiral_mlp: epochs 11-20 after --load differ from an unbroken run of 20:"
        diff "$E/log/resume-whole.cmp" "$E/log/resume-rest.cmp" | head -6 | sed 's/^/     /'
    elif ! near "$after" "$before" "$(awk "BEGIN { print 0.1 * $before }")"; then
        bad "resume spiral_mlp: the first loss after resuming, $after, is far from the loss at the save, $before"
    else
        ok "resume spiral_mlp: saved at epoch 10 (loss $before), resumed: first loss $after, epochs 11-20 identical to an unbroken run"
    fi
fi

# refused: LABEL PROG ARGS...: exit 1, one line on stderr naming $want_file
# and matching $want_text, and $E/keep.bin unchanged (ARGS --save it).
printf 'a checkpoint that must survive\n' >"$E/keep.ref"
refused() {
    label=$1
    shift
    cp "$E/keep.ref" "$E/keep.bin"
    run "$label" "$@"
    nerr=$(wc -l <"$err")
    msg=$(head -1 "$err")
    if [ "$rc" -ne "$want_rc" ]; then
        bad "$label: exit $rc, want $want_rc: $msg"
    elif [ "$nerr" -ne 1 ]; then
        bad "$label: $nerr lines on stderr, want one:"
        head -5 "$err" | sed 's/^/     /'
    elif ! grep -F -q -- "$want_file" "$err"; then
        bad "$label: the message does not name $want_file: $msg"
    elif ! grep -E -q -- "$want_text" "$err"; then
        bad "$label: the message does not say /$want_text/: $msg"
    elif ! cmp -s "$E/keep.ref" "$E/keep.bin"; then
        bad "$label: the --save target was overwritten: $msg"
    else
        ok "$label: exit $rc, target kept: $msg"
    fi
}

want_rc=1
if is_built and && [ -f "$E/xor.safetensors" ]; then
    want_file="$E/xor.safetensors" want_text="xor"
    refused "load another model's checkpoint" "$E/and" --load "$E/xor.safetensors" --save "$E/keep.bin"
fi
if is_built xor_wide && [ -f "$E/xor.safetensors" ]; then
    want_file="$E/xor.safetensors" want_text="shape"
    refused "load a checkpoint with a wrong shape" "$E/xor_wide" --load "$E/xor.safetensors" --save "$E/keep.bin"
fi
if is_built xor && [ -f "$E/xor.safetensors" ]; then
    # the header length one byte short (the weights would load shifted by
    # a byte), and 4 bytes after the last tensor
    f="$E/xor.safetensors"
    hl=$(od -An -tu1 -N8 "$f" | awk '{ v = 0; for (i = NF; i >= 1; i--) v = v * 256 + $i; print v }')
    len8=$(awk -v v=$((hl - 1)) 'BEGIN { for (i = 0; i < 8; i++) { printf "\\%03o", v % 256; v = int(v / 256) } }')
    { printf "$len8"; tail -c +9 "$f"; } >"$E/short.safetensors"
    want_file="$E/short.safetensors" want_text="1 byte after the last tensor.*header length"
    refused "load a checkpoint whose header length is one byte short" "$E/xor" --load "$E/short.safetensors" --save "$E/keep.bin"
    { cat "$f"; printf 'junk'; } >"$E/long.safetensors"
    want_file="$E/long.safetensors" want_text="4 bytes after the last tensor"
    refused "load a checkpoint with bytes after its last tensor" "$E/xor" --load "$E/long.safetensors" --save "$E/keep.bin"
fi

# ---- bad inputs ---------------------------------------------------------------------
if is_built fashion_relu; then
    want_file=/nonexistent want_text="."
    refused "missing data file" "$E/fashion_relu" --data /nonexistent,/nonexistent --save "$E/keep.bin"
    yes junk | head -c 4096 >"$E/junk.idx"
    want_file="$E/junk.idx" want_text="magic|IDX"
    refused "wrong IDX magic" "$E/fashion_relu" --data "$E/junk.idx,$E/junk.idx" --save "$E/keep.bin"
    if [ "$have_fm" -eq 1 ]; then
        gzip -dc "$FM/t10k-images-idx3-ubyte.gz" | head -c 100000 >"$E/cut.idx"
        want_file="$E/cut.idx" want_text="truncat"
        refused "truncated raw IDX" "$E/fashion_relu" --data "$E/cut.idx,$FM/t10k-labels-idx1-ubyte.gz" --save "$E/keep.bin"
        head -c 50000 "$FM/t10k-images-idx3-ubyte.gz" >"$E/cut.idx.gz"
        want_file="$E/cut.idx.gz" want_text="truncat"
        refused "truncated gzip IDX" "$E/fashion_relu" --data "$E/cut.idx.gz,$FM/t10k-labels-idx1-ubyte.gz" --save "$E/keep.bin"
    fi
fi
if is_built img100 && [ "$have_fm" -eq 1 ]; then
    want_file="$FM/t10k-images-idx3-ubyte.gz" want_text="784.*100|100.*784"
    refused "images of 784 for an input of 100" "$E/img100" --data "$FM/t10k-images-idx3-ubyte.gz,$FM/t10k-labels-idx1-ubyte.gz" --save "$E/keep.bin"
fi
if is_built csv3; then
    if train csv3 --save "$E/csv3.safetensors"; then
        if [ "$acc" = "1.0000" ]; then
            ok "csv3: trains on tests/e2e/good.csv, acc $acc (loss $loss)"
        else
            bad "csv3: acc $acc on tests/e2e/good.csv, want 1.0000 (loss $loss)"
        fi
    fi
    want_file=tests/e2e/bad.csv want_text="abc"
    refused "CSV with a non-number" "$E/csv3" --data tests/e2e/bad.csv --save "$E/keep.bin"
fi

# ---- tabular data: tests/e2e/iris_like.nn ------------------------------------------
# Class names (quoted, one with a comma and doubled quotes), quoted numbers,
# normalize="column", validation=0.1 (15 of 150 rows held out: 135 rows,
# 9 steps an epoch), a test file with the species in another order.
if is_built iris_like; then
    if train iris_like --log-csv "$E/iris.log.csv"; then
        vloss=$(field "$out" "val loss")
        vacc=$(field "$out" "val acc")
        if ge "$tacc" 0.90 && [ -n "$vloss" ] && [ -n "$vacc" ] && grep -q '^done: 40 epochs, 360 steps' "$out"; then
            ok "iris_like: test acc $tacc >= 0.90, val loss $vloss, val acc $vacc (loss $loss, acc $acc; 40 epochs of 135 rows: 360 steps)"
        else
            bad "iris_like: $(grep '^done' "$out") (want test acc >= 0.90, val figures, 40 epochs, 360 steps)"
        fi
        rows=$(awk -F, 'NR > 1 && NF == 8 && $7 != "" && $8 != "" { n++ } END { print n + 0 }' "$E/iris.log.csv")
        if [ "$(head -1 "$E/iris.log.csv")" = "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc" ] && [ "$rows" -eq 40 ]; then
            ok "iris_like: --log-csv has val_loss,val_acc after the other columns, filled in all 40 rows"
        else
            bad "iris_like: --log-csv: header '$(head -1 "$E/iris.log.csv")', $rows rows with validation figures, want 40"
        fi
    fi
    # the per-column figures and class names the checkpoint keeps (the
    # model without its validation line: every row counts), against the
    # file read by Python's csv module and the statistics module
    sed '/validation/d' tests/e2e/iris_like.nn >"$E/iris_noval.nn"
    if "$NNC" "$E/iris_noval.nn" -o "$E/iris_noval" 2>"$E/log/build-iris_noval.err" &&
       "$E/iris_noval" --epochs 1 --quiet --save "$E/iris_noval.st" >/dev/null 2>&1 &&
       python3 tests/e2e/iris_figures.py tests/e2e/iris_like.csv "$E/iris_noval.st" >"$E/log/iris_figures.out" 2>&1; then
        ok "iris_like: normalize=\"column\" figures and class names as Python computes them: $(cat "$E/log/iris_figures.out")"
    else
        bad "iris_like: the checkpoint's column figures or class names differ from Python's: $(tail -2 "$E/log/iris_figures.out" "$E/log/build-iris_noval.err" 2>/dev/null)"
    fi
    # a header line that is data: skipped, with one warning
    tail -n +2 tests/e2e/iris_like.csv >"$E/iris_nohead.csv"
    run iris-no-header "$E/iris_like" --data "$E/iris_nohead.csv" --epochs 1 --quiet
    want="nnrt: $E/iris_nohead.csv: line 1 looks like data, not a header; it was skipped: use header=false if it is data"
    if [ "$rc" -eq 0 ] && [ "$(cat "$err")" = "$want" ]; then
        ok "iris_like: a header row of numbers: exit 0, one warning: $want"
    else
        bad "iris_like: a header row of numbers: exit $rc, stderr: $(head -3 "$err")"
    fi
    # a test file with a name the training file does not have
    sed '4s/,setosa\r$/,Setosa\r/' tests/e2e/iris_like_test.csv >"$E/iris_badname.csv"
    want_file="$E/iris_badname.csv" want_text="line 4, column 5: class name 'Setosa' is not one of the training set's 3 \(versicolor, setosa, virginica, \"tall\"\)"
    refused "CSV test file with an unknown class name" "$E/iris_like" --test "$E/iris_badname.csv" --save "$E/keep.bin"
    # more names than the model's classes
    { cat tests/e2e/iris_like.csv; printf '5,3,20,200,"iris nova"\r\n'; } >"$E/iris_4names.csv"
    want_file="$E/iris_4names.csv" want_text="line 152, column 5: class name 'iris nova' is name number 4, but the model has 3 classes \(an output of width 3\)"
    refused "CSV with more class names than outputs" "$E/iris_like" --data "$E/iris_4names.csv" --save "$E/keep.bin"
    # a quoted field left open
    printf 'a,b,c,d,s\n1,2,3,4,setosa\n1,"2,3,4,setosa\n' >"$E/iris_open.csv"
    want_file="$E/iris_open.csv" want_text="line 3, column 2: a quoted field is not closed on its line"
    refused "CSV with an open quote" "$E/iris_like" --data "$E/iris_open.csv" --save "$E/keep.bin"
    # validation that leaves nothing to hold out
    printf 'a,b,c,d,s\n1,2,3,4,setosa\n1,2,3,4,setosa\n' >"$E/iris_2rows.csv"
    want_file="$E/iris_2rows.csv" want_text="validation=0.1 of 2 training rows holds out 0 and leaves 2 to train on"
    refused "validation that holds out no row" "$E/iris_like" --data "$E/iris_2rows.csv" --save "$E/keep.bin"
fi

# ---- token ids: tests/e2e/bag_ids.nn -------------------------------------------------
# An i32 input [B, 6] of ids in [0, 20) from CSV integer columns, E[ids] and
# its scatter-add into E's rows; ids outside [0, 20) or not integers refused
# at load time with the place.
if is_built bag_ids; then
    if train bag_ids --save "$E/bag_ids.st"; then
        if ge "$tacc" 0.90 && grep -q '^done: 20 epochs, 120 steps' "$out"; then
            ok "bag_ids: test acc $tacc >= 0.90 (loss $loss, acc $acc; 20 epochs of 90 rows: 120 steps)"
        else
            bad "bag_ids: $(grep '^done' "$out") (want test acc >= 0.90, 20 epochs, 120 steps)"
        fi
        run bag-predict "$E/bag_ids" --load "$E/bag_ids.st" --predict tests/e2e/bag_ids_test.csv --out "$E/bag.pred.csv"
        lines=$(wc -l <"$E/bag.pred.csv" 2>/dev/null || echo 0)
        if [ "$rc" -eq 0 ] && [ "$lines" -eq 31 ] && [ "$(head -1 "$E/bag.pred.csv")" = "y0,y1,y2,class" ]; then
            ok "bag_ids: --predict of the 30 test rows: exit 0, a header and 30 lines"
        else
            bad "bag_ids: --predict: exit $rc, $lines lines: $(head -1 "$err")"
        fi
        printf '1,2,3,4,5,20\n' >"$E/bag_pred_bad.csv"
        want_file="$E/bag_pred_bad.csv" want_text="line 1, column 6: id 20 is outside \[0, 20\)"
        refused "bag_ids: --predict with an id of 20 for 20 rows of E" "$E/bag_ids" --load "$E/bag_ids.st" \
            --predict "$E/bag_pred_bad.csv" --out "$E/keep.bin"
    fi
    awk -F, 'NR == 7 { $3 = 20 } { print }' OFS=, tests/e2e/bag_ids.csv >"$E/bag_id20.csv"
    want_file="$E/bag_id20.csv"
    want_text="line 7, column 3: id 20 is outside \[0, 20\), the rows of the model's embedding table"
    refused "bag_ids: CSV with an id of 20 for 20 rows of E" "$E/bag_ids" --data "$E/bag_id20.csv" --save "$E/keep.bin"
    awk -F, 'NR == 4 { $2 = "2.5" } { print }' OFS=, tests/e2e/bag_ids.csv >"$E/bag_idfrac.csv"
    want_file="$E/bag_idfrac.csv" want_text="line 4, column 2: '2.5' is not an id"
    refused "bag_ids: CSV with an id of 2.5" "$E/bag_ids" --data "$E/bag_idfrac.csv" --save "$E/keep.bin"
    awk -F, 'NR == 3 { $1 = -1 } { print }' OFS=, tests/e2e/bag_ids_test.csv >"$E/bag_idneg.csv"
    want_file="$E/bag_idneg.csv" want_text="line 3, column 1: id -1 is outside \[0, 20\).*ids count from 0"
    refused "bag_ids: test CSV with an id of -1" "$E/bag_ids" --test "$E/bag_idneg.csv" --save "$E/keep.bin"
fi

# ---- hostile data: class ids, empty sets, gzip to its end, lying headers --------
if is_built csv3; then
    want_file=tests/e2e/labels_1based.csv
    want_text="line 6, column 4: class id 2 is outside \[0, 2\) for a model with 2 classes; are the labels 1-based\?"
    refused "CSV with 1-based class ids" "$E/csv3" --data tests/e2e/labels_1based.csv --save "$E/keep.bin"
    want_file=tests/e2e/label_2p24.csv want_text="line 5, column 4: class id 16777217 is outside \[0, 2\)"
    refused "CSV class id 2^24+1 (read as an integer)" "$E/csv3" --data tests/e2e/label_2p24.csv --save "$E/keep.bin"
    awk 'BEGIN { printf "h\n"; for (i = 1; i < 10000; i++) printf "0,"; printf "0\n";
                 for (i = 0; i < 330000; i++) printf "\n" }' >"$E/wide.csv"
    want_file="$E/wide.csv" want_text="rows have 9999 features \(and a label\), the model's input has 3"
    refused "CSV of 10,000 columns and 330,000 blank lines (ulimit -v 2000000)" \
        sh -c 'ulimit -v 2000000 && exec "$0" "$@"' "$E/csv3" --data "$E/wide.csv" --save "$E/keep.bin"
fi
if is_built fashion_relu && [ "$have_fm" -eq 1 ]; then
    TI="$FM/t10k-images-idx3-ubyte.gz" TL="$FM/t10k-labels-idx1-ubyte.gz"
    gzip -dc "$TL" >"$E/lb.idx"
    { head -c 14 "$E/lb.idx"; printf '\012'; tail -c +16 "$E/lb.idx"; } >"$E/lb10.idx"
    want_file="$E/lb10.idx" want_text="row 7 \(byte 14\): class id 10 is outside \[0, 10\) for a model with 10 classes"
    refused "IDX label 10 for 10 classes" "$E/fashion_relu" --data "$TI,$E/lb10.idx" --save "$E/keep.bin"
    printf '\000\000\010\003\000\000\000\000\000\000\000\034\000\000\000\034' >"$E/empty.idx"
    printf '\000\000\010\001\000\000\000\000' >"$E/empty_lb.idx"
    want_file="$E/empty.idx" want_text="no images .*empty data set"
    refused "empty IDX set" "$E/fashion_relu" --data "$E/empty.idx,$E/empty_lb.idx" --save "$E/keep.bin"
    head -c $(($(wc -c <"$TL") - 4)) "$TL" >"$E/torn.gz"
    want_file="$E/torn.gz" want_text="truncated gzip stream"
    refused "gzip IDX with its trailer cut by 4 bytes" "$E/fashion_relu" --data "$TI,$E/torn.gz" --save "$E/keep.bin"
    { cat "$TL"; printf 'garbage'; } >"$E/tail.gz"
    want_file="$E/tail.gz" want_text="7 bytes of trailing data after the gzip stream"
    refused "gzip IDX with 7 bytes after it" "$E/fashion_relu" --data "$TI,$E/tail.gz" --save "$E/keep.bin"
    printf '\000\000\010\003\001\000\000\000\000\000\000\034\000\000\000\034' >"$E/claim.idx"
    want_file="$E/claim.idx" want_text="truncated file \(0 of 13153337344 data bytes for 16777216x28x28\)"
    refused "16-byte IDX claiming 13 GB (ulimit -v 2000000)" \
        sh -c 'ulimit -v 2000000 && exec "$0" "$@"' "$E/fashion_relu" --data "$E/claim.idx,$TL" --save "$E/keep.bin"
fi
mkdir -p "$E/lib"
if ! "$NNC" models/spiral_mlp.nn --emit library -o "$E/lib/spiral_mlp.c" 2>"$E/log/lib.err" ||
   ! $CC -std=c99 -O2 -I"$E/lib" -o "$E/lib_ids" tests/e2e/lib_ids.c "$E/lib/spiral_mlp.c" -lm 2>>"$E/log/lib.err"; then
    bad "library mode: building spiral_mlp's library with tests/e2e/lib_ids.c failed: $(head -1 "$E/log/lib.err")"
else
    run lib-ids "$E/lib_ids"
    if [ "$rc" -eq 0 ] && ! grep -q '^FAIL' "$out"; then
        ok "library mode: train_step and loss return NaN for $(grep -c 'returns NaN' "$out") calls with a bad id, params unchanged; valid ids train"
    else
        bad "library mode: lib_ids exits $rc:"
        grep -v '^ok' "$out" | head -5 | sed 's/^/     /'
    fi
fi
# Input ids (an i32 input): tests/e2e/lib_input_ids.c around bag_ids' library, with
# AddressSanitizer where $CC has it (an id that slipped past the check reads out of bounds).
mkdir -p "$E/libin"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
echo 'int main(void) { return 0; }' >"$E/libin/san.c"
$CC $SAN -o "$E/libin/san" "$E/libin/san.c" 2>/dev/null && "$E/libin/san" || SAN=""
if ! "$NNC" tests/e2e/bag_ids.nn --emit library -o "$E/libin/bag_ids.c" 2>"$E/log/libin.err" ||
   ! $CC -std=c99 -O1 -g $SAN -I"$E/libin" -o "$E/lib_input_ids" tests/e2e/lib_input_ids.c "$E/libin/bag_ids.c" -lm \
       2>>"$E/log/libin.err"; then
    bad "library mode: building bag_ids' library with tests/e2e/lib_input_ids.c failed: $(head -1 "$E/log/libin.err")"
else
    run lib-input-ids "$E/lib_input_ids"
    if [ "$rc" -eq 0 ] && ! grep -q '^FAIL' "$out"; then
        ok "library mode: an input id outside [0, V): train_step and loss NaN, predict -1 for $(grep -c 'predict returns -1' "$out") batches, params and output unchanged${SAN:+ (ASan, UBSan)}; valid ids train"
    else
        bad "library mode: lib_input_ids exits $rc:"
        grep -v '^ok' "$out" "$err" | head -5 | sed 's/^/     /'
    fi
fi

# ---- string consts: file paths --------------------------------------------------------
# tests/e2e/const_path.nn reads its CSV (training and test set) and names its
# checkpoint through string consts.
rm -f build/const_path.safetensors
if ! "$NNC" tests/e2e/const_path.nn -o "$E/const_path" 2>"$E/log/const_path.err"; then
    bad "string consts: nnc failed: $(head -1 "$E/log/const_path.err")"
else
    run const-path "$E/const_path"
    if [ "$rc" -eq 0 ] && [ "$(field "$out" acc)" = "1.0000" ] && [ -n "$(field "$out" "test acc")" ] &&
        [ -s build/const_path.safetensors ]; then
        ok "string consts: const_path trains on the CSV its const names and saves to the const's checkpoint path"
    else
        bad "string consts: const_path exits $rc: $(tail -1 "$out") $(head -1 "$err")"
    fi
    rm -f build/const_path.safetensors
fi

# ---- an optimizer without a learning rate --------------------------------------------
# tests/e2e/table_adadelta.nn: --lr changes nothing and says so in one line;
# the CSV log's lr field is empty.
if ! "$NNC" tests/e2e/table_adadelta.nn -o "$E/table_adadelta" 2>"$E/log/adadelta.err"; then
    bad "adadelta: nnc failed: $(head -1 "$E/log/adadelta.err")"
else
    run adadelta-plain "$E/table_adadelta" --epochs 3
    plain=$(notime "$out")
    run adadelta-lr "$E/table_adadelta" --epochs 3 --lr 5 --log-csv "$E/adadelta.csv"
    if [ "$rc" -ne 0 ] || [ "$(notime "$out")" != "$plain" ]; then
        bad "adadelta --lr 5: exit $rc, or its losses differ from a run without --lr"
    elif [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q 'warning: --lr changes nothing.*no learning rate' "$err"; then
        bad "adadelta --lr 5: stderr is not the one warning line: $(head -2 "$err")"
    elif [ "$(sed -n '2,$p' "$E/adadelta.csv" | grep -cv ',$')" -ne 0 ]; then
        bad "adadelta --lr 5: the CSV log shows a learning rate: $(sed -n 2p "$E/adadelta.csv")"
    else
        ok "adadelta --lr 5: the same losses, one warning ($(cat "$err")), no lr in the log"
    fi
fi

# ---- constant gradients and large constants ------------------------------------------
# tests/e2e/const_grads.nn: params whose gradients fold to constants, are the
# seed dL/dL or other params; each must reach the gradient block:
# --gradcheck of the program (OpenBLAS and --blas none), and library mode's
# first Adam step against the gradients by differences (tests/e2e/lib_grads.c).
for blas in cblas none; do
    if ! "$NNC" tests/e2e/const_grads.nn --blas $blas -o "$E/const_grads_$blas" 2>"$E/log/build-const_grads_$blas.err"; then
        bad "const_grads --blas $blas: build failed: $(head -1 "$E/log/build-const_grads_$blas.err")"
        continue
    fi
    run "gradcheck-const_grads-$blas" "$E/const_grads_$blas" --gradcheck
    verdict=$(grep '^gradcheck: worst' "$out" | tail -1)
    if [ "$rc" -eq 0 ]; then
        ok "gradcheck const_grads (--blas $blas): ${verdict#gradcheck: }"
    else
        bad "gradcheck const_grads (--blas $blas): exit $rc: ${verdict:-$(head -1 "$err")}"
        grep '^gradcheck .*rel err' "$out" | sed 's/^/     /'
    fi
done
mkdir -p "$E/libcg"
if ! "$NNC" tests/e2e/const_grads.nn --emit library -o "$E/libcg/const_grads.c" 2>"$E/log/libcg.err" ||
   ! $CC -std=c99 -O2 -I"$E/libcg" -o "$E/lib_grads" tests/e2e/lib_grads.c "$E/libcg/const_grads.c" -lm 2>>"$E/log/libcg.err"; then
    bad "library mode: building const_grads' library with tests/e2e/lib_grads.c failed: $(head -1 "$E/log/libcg.err")"
else
    run lib-grads "$E/lib_grads"
    if [ "$rc" -eq 0 ]; then
        ok "library mode const_grads: $(tail -1 "$out" | sed 's/^ok *//')"
    else
        bad "library mode const_grads: lib_grads exits $rc:"
        head -5 "$out" | sed 's/^/     /'
    fi
fi
# tests/e2e/big_const.nn: broadcast_to(2.0, [3000, 3000]) is not folded into
# a 54 MB C literal: nnc within 2 s, the .c under 1 MB, and it builds and
# trains an epoch to a finite loss.
run "emit-big_const" "$NNC" tests/e2e/big_const.nn -o "$E/big_const.c"
bytes=$(wc -c <"$E/big_const.c" 2>/dev/null || echo 0)
if [ "$rc" -ne 0 ]; then
    bad "big_const: nnc exits $rc: $(head -1 "$err")"
elif [ "$bytes" -ge 1000000 ] || ! le "$wall" 2; then
    bad "big_const: nnc took ${wall}s (want <= 2 s) for a .c of $bytes bytes (want < 1 MB)"
elif ! $CC -std=c99 -O2 $CFLAGS_RT -o "$E/big_const" "$E/big_const.c" $LIBS_RT 2>"$E/log/cc-big_const.err"; then
    bad "big_const: the .c does not build: $(head -1 "$E/log/cc-big_const.err")"
else
    nnc_wall=$wall
    run "run-big_const" "$E/big_const"
    bloss=$(field "$out" loss)
    if [ "$rc" -eq 0 ] && printf '%s\n' "$bloss" | grep -Eq '^-?[0-9]+(\.[0-9]+)?$'; then
        ok "big_const: a [3000, 3000] constant: nnc ${nnc_wall}s, $bytes bytes of C, builds, trains (loss $bloss)"
    else
        bad "big_const: exit $rc, loss '$bloss': $(head -1 "$err")"
    fi
fi

if is_built nan_lr; then
    want_rc=3 want_file="epoch 1" want_text="step [0-9]+"
    refused "NaN/Inf loss (lr 1e30)" "$E/nan_lr"   # with --save: tests/run_output.sh
    want_rc=1
fi

echo "run_e2e: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$E"
    exit 0
fi
echo "run_e2e: programs and logs kept in $E"
exit 1
