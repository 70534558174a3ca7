#!/bin/sh
# tests/run_predict.sh: --predict, checked against an independent reference.
#
# tests/predict/clf.nn (4-6-3, tanh, softmax: argmax classes; its CSV is
# scaled by 0.01 and normalized) is trained and saved; then --predict with
# that checkpoint on
#   - the training CSV itself (a header, the label column skipped),
#   - its inputs alone (no header, no label),
#   - an IDX images file of 2x2 bytes written here (raw and gzip),
#   - one row (a batch of 1; the other files end with a batch of 5 of 8),
# and every output value and class of each is compared by
# tests/predict/ref.py, which reads the checkpoint with struct + json and
# runs the forward pass by hand in double: within 1e-5 relative.  Without
# --out the same lines go to standard output.  A hand-built checkpoint
# (ref.py meta) with class names holding a comma, a quote and UTF-8:
# the names come out, quoted as CSV quotes them.  tests/predict/bin.nn (one
# logit, sigmoid_cross_entropy: 0/1 classes by y >= 0, inputs scaled by
# 0.5) checks the threshold, and a copy of its checkpoint without the
# figures (as checkpoints were before they kept them) predicts the same
# from the train block's scale; tests/predict/reg.nn (mse: no class) the
# outputs alone.  tests/e2e/iris_like.nn, trained with normalize="column"
# on a CSV whose labels are names (one with a comma and quotes): the
# per-column figures and the names come from its checkpoint, on its test
# file (quoted header, names in the label column) and on its inputs alone.
#
# Refused with one line on stderr, a pre-existing --out file kept byte for
# byte and no temporary left: a CSV of the wrong width (exit 1, naming both
# widths), a missing file, images of the wrong size, an empty file, output
# into /dev/full or past a file-size limit (a full disk), a
# checkpoint of another model, hand-built checkpoints with a NaN std, with
# 3 col_mean values for 4 inputs, with two class names the same, and
# without figures (or --init-from, params alone) for a model that
# normalizes (exit 1); --predict without --load, --out without --predict,
# --predict with --epochs (exit 2).  --init-from of bin's checkpoint
# predicts as the checkpoint without figures does.
#
# Run from the repository root after `make`.  One line per check, a tally;
# exit 1 if any failed.  Work goes to build/predict.PID, removed when all
# passed.  NNC=path/to/nnc runs it with another compiler (and its runtime).
NNC=${NNC:-build/nnc}
E=build/predict.$$
REF="python3 tests/predict/ref.py"
CLF="--layers W1,b1,tanh/W2,b2,none --in-dim 4"
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ]; then
    echo "FAIL $NNC is missing: run make first"
    exit 1
fi
rm -rf "$E"
mkdir -p "$E" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM

# build NAME: tests/predict/NAME.nn into $E/NAME, trained and saved as
# $E/NAME.st
build() {
    if ! "$NNC" "tests/predict/$1.nn" -o "$E/$1" >"$E/$1.build" 2>&1; then
        bad "$1: does not build: $(head -3 "$E/$1.build")"
        return 1
    fi
    if ! "$E/$1" --save "$E/$1.st" --quiet >"$E/$1.train" 2>&1; then
        bad "$1: does not train: $(head -3 "$E/$1.train")"
        return 1
    fi
    return 0
}

# predict LABEL NAME CKPT INPUT REF-ARGS...: NAME --load CKPT --predict
# INPUT --out $E/LABEL.csv, checked by ref.py (its figures in $refline).
predict() {
    label=$1 name=$2 ck=$3 input=$4
    shift 4
    "$E/$name" --load "$ck" --predict "$input" --out "$E/$label.csv" >"$E/$label.out" 2>"$E/$label.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        bad "$label: exit $rc: $(head -2 "$E/$label.err")"
        return 1
    fi
    if ! refline=$($REF check "$ck" "$input" "$E/$label.csv" "$@"); then
        bad "$label: $refline"
        return 1
    fi
    return 0
}

# refused LABEL WANT-RC WANT-TEXT CMD...: CMD exits WANT-RC with one line
# on stderr holding WANT-TEXT; $E/keep.csv (its --out) keeps its bytes.
refused() {
    label=$1 want_rc=$2 want=$3
    shift 3
    printf 'the previous predictions\n' >"$E/keep.csv"
    "$@" >"$E/r.out" 2>"$E/r.err"
    rc=$?
    lines=$(wc -l <"$E/r.err")
    if [ "$rc" -ne "$want_rc" ]; then
        bad "$label: exit $rc, want $want_rc: $(head -2 "$E/r.err")"
    elif [ "$lines" -ne 1 ] || ! grep -F -q -- "$want" "$E/r.err"; then
        bad "$label: stderr is not one line saying '$want': $(head -3 "$E/r.err")"
    elif [ "$(cat "$E/keep.csv")" != "the previous predictions" ] || [ -e "$E/keep.csv.tmp" ]; then
        bad "$label: the --out file was changed, or its temporary left"
    else
        ok "$label: exit $rc, $(cat "$E/r.err")"
    fi
}

# ---- clf: argmax classes, scale and normalize --------------------------------
if build clf; then
    C="$E/clf.st"
    cut -d, -f1-4 tests/predict/train.csv | tail -n +2 >"$E/x.csv"
    sed -n 5p "$E/x.csv" >"$E/x1.csv"
    $REF idx tests/predict/train.csv "$E/in.idx" 2 2
    $REF idx tests/predict/train.csv "$E/in.idx.gz" 2 2 --gzip
    predict with_label clf "$C" tests/predict/train.csv $CLF --header --label-col -1 &&
        ok "clf: the training CSV (header, label skipped): $refline"
    predict inputs clf "$C" "$E/x.csv" $CLF && ok "clf: its inputs alone: $refline"
    predict idx clf "$C" "$E/in.idx" $CLF && ok "clf: IDX images, 2x2 bytes: $refline"
    predict idx_gz clf "$C" "$E/in.idx.gz" $CLF && ok "clf: the same IDX gzipped: $refline"
    predict one clf "$C" "$E/x1.csv" $CLF && ok "clf: one row: $refline"
    if cmp -s "$E/with_label.csv" "$E/inputs.csv"; then
        ok "clf: with and without the label, the same lines"
    else
        bad "clf: the lines differ with and without the label column"
    fi
    if "$E/clf" --load "$C" --predict "$E/x.csv" >"$E/stdout.csv" 2>"$E/stdout.err" &&
        cmp -s "$E/stdout.csv" "$E/inputs.csv"; then
        ok "clf: without --out, the same lines on standard output"
    else
        bad "clf: standard output differs from --out: $(head -2 "$E/stdout.err")"
    fi
    if grep -q "^predicted 45 rows: $E/inputs.csv\$" "$E/inputs.out"; then
        ok "clf: --out says 'predicted 45 rows: FILE'"
    else
        bad "clf: --out printed: $(head -2 "$E/inputs.out")"
    fi
    # class names that CSV has to quote
    $REF meta "$C" "$E/names.st" 'class_names=["set,osa","versi \"color\"","vïrginica ☃"]'
    if predict names clf "$E/names.st" "$E/x.csv" $CLF; then
        if grep -q '"set,osa"' "$E/names.csv" && grep -q '"versi ""color"""' "$E/names.csv"; then
            ok "clf: class names from the checkpoint, CSV-quoted: $refline"
        else
            bad "clf: class names are not quoted as CSV: $(sed -n 2,3p "$E/names.csv")"
        fi
    fi
    # refusals
    printf '1,2,3\n4,5,6\n' >"$E/three.csv"
    refused "clf: a CSV of 3 fields" 1 "three.csv: line 1 has 3 fields; the model takes rows of 4 inputs, or 4 inputs and the label (5 fields)" \
        "$E/clf" --load "$C" --predict "$E/three.csv" --out "$E/keep.csv"
    printf 'a,b,c,d\n1,2,3,4\n5,6,7\n' >"$E/ragged.csv"
    refused "clf: a CSV whose third line is short" 1 "ragged.csv: line 3 has 3 fields, expected 4" \
        "$E/clf" --load "$C" --predict "$E/ragged.csv" --out "$E/keep.csv"
    refused "clf: a missing input" 1 "cannot open $E/nothing.csv" \
        "$E/clf" --load "$C" --predict "$E/nothing.csv" --out "$E/keep.csv"
    : >"$E/empty.csv"
    refused "clf: an empty input" 1 "empty.csv: no data rows" \
        "$E/clf" --load "$C" --predict "$E/empty.csv" --out "$E/keep.csv"
    $REF idx tests/predict/train.csv "$E/in3.idx" 3 1
    refused "clf: IDX images of 3x1" 1 "in3.idx" \
        "$E/clf" --load "$C" --predict "$E/in3.idx" --out "$E/keep.csv"
    $REF meta "$C" "$E/nan.st" std=nan
    refused "clf: a NaN std" 1 "__metadata__ 'std' 'nan' is not a finite decimal number > 0" \
        "$E/clf" --load "$E/nan.st" --predict "$E/x.csv" --out "$E/keep.csv"
    $REF meta "$C" "$E/cols.st" normalize=column -mean -std col_mean=1,2,3 col_std=1,1,1
    refused "clf: 3 col_mean values for 4 inputs" 1 "__metadata__ 'col_mean' has 3 values, the model's input has 4 columns" \
        "$E/clf" --load "$E/cols.st" --predict "$E/x.csv" --out "$E/keep.csv"
    $REF meta "$C" "$E/dup.st" 'class_names=["a","b","a"]'
    refused "clf: a class name twice" 1 "__metadata__ 'class_names' names 'a' twice" \
        "$E/clf" --load "$E/dup.st" --predict "$E/x.csv" --out "$E/keep.csv"
    $REF meta "$C" "$E/old.st" -scale -normalize -mean -std
    refused "clf: no figures, and the model normalizes" 1 "has no normalization figures (written before checkpoints kept them), and model clf normalizes" \
        "$E/clf" --load "$E/old.st" --predict "$E/x.csv" --out "$E/keep.csv"
    refused "clf: standard output on /dev/full" 1 "cannot write standard output" \
        sh -c '"$0" --load "$1" --predict "$2" >/dev/full' "$E/clf" "$C" "$E/x.csv"
    for i in $(seq 2000); do echo "10,20,30,40"; done >"$E/big.csv"
    refused "clf: --out past a 10 KB file-size limit" 1 "cannot write $E/keep.csv: File too large" \
        sh -c 'ulimit -f 20 && trap "" XFSZ && "$0" --load "$1" --predict "$2" --out "$3"' \
        "$E/clf" "$C" "$E/big.csv" "$E/keep.csv"
    refused "clf: --predict without --load" 2 "--predict needs the trained params: --load CHECKPOINT or --init-from FILE" \
        "$E/clf" --predict "$E/x.csv" --out "$E/keep.csv"
    refused "clf: --out without --predict" 2 "--out names where --predict writes; there is no --predict" \
        "$E/clf" --load "$C" --out "$E/keep.csv"
    refused "clf: --predict with --epochs" 2 "--predict trains nothing and reads no training data, so --epochs has no effect with it" \
        "$E/clf" --load "$C" --predict "$E/x.csv" --epochs 3 --out "$E/keep.csv"
fi

# ---- bin: 0/1 classes by threshold, scale without normalize ----------------------
if build bin; then
    predict bin bin "$E/bin.st" tests/predict/bin.csv --layers W,b,none --in-dim 2 --label-col -1 --acc threshold=0 &&
        ok "bin: threshold classes (y >= 0): $refline"
    $REF meta "$E/bin.st" "$E/bin_old.st" -scale -normalize
    if predict bin_old bin "$E/bin_old.st" tests/predict/bin.csv --layers W,b,none --in-dim 2 --label-col -1 \
            --acc threshold=0 --scale 0.5 && cmp -s "$E/bin.csv" "$E/bin_old.csv"; then
        ok "bin: a checkpoint without figures takes the train block's scale: the same lines"
    elif [ -f "$E/bin_old.csv" ]; then
        bad "bin: without figures the lines differ: $(diff "$E/bin.csv" "$E/bin_old.csv" | head -3)"
    fi
    if "$E/bin" --init-from "$E/bin.st" --predict tests/predict/bin.csv --out "$E/bin_init.csv" \
            >"$E/bin_init.out" 2>"$E/bin_init.err" && cmp -s "$E/bin_old.csv" "$E/bin_init.csv"; then
        ok "bin: --init-from (params alone, the train block's scale): the same lines"
    else
        bad "bin: --init-from: $(head -2 "$E/bin_init.err")"
    fi
    refused "clf: --init-from, and the model normalizes" 1 "--init-from $E/clf.st gives params only, and model clf normalizes its inputs" \
        "$E/clf" --init-from "$E/clf.st" --predict "$E/x.csv" --out "$E/keep.csv"
    refused "bin: a checkpoint of another model" 1 "was written by model 'clf', not 'bin'" \
        "$E/bin" --load "$E/clf.st" --predict tests/predict/bin.csv --out "$E/keep.csv"
fi

# ---- reg: no accuracy, no class ---------------------------------------------------
if build reg; then
    predict reg reg "$E/reg.st" tests/predict/bin.csv --layers W,b,none --in-dim 2 --label-col -1 --acc none &&
        ok "reg: the output alone, no class column: $refline"
fi

# ---- iris_like: per-column normalizing and class names, trained ------------------
# tests/e2e/iris_like.nn: normalize="column" and a species column of names
# (one with a comma and quotes); its test file has a quoted header.
if "$NNC" tests/e2e/iris_like.nn -o "$E/iris_like" >"$E/iris.build" 2>&1 &&
   "$E/iris_like" --save "$E/iris.st" --quiet >"$E/iris.train" 2>&1; then
    IRIS="--layers y.W,y.b,none --in-dim 4"
    predict iris iris_like "$E/iris.st" tests/e2e/iris_like_test.csv $IRIS --header --label-col -1 &&
        ok "iris_like: col_mean/col_std and class names from the checkpoint: $refline"
    python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))[1:]
csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n").writerows(r[:-1] for r in rows)' \
        tests/e2e/iris_like_test.csv "$E/iris_in.csv"
    if predict iris_x iris_like "$E/iris.st" "$E/iris_in.csv" $IRIS; then
        if cmp -s "$E/iris.csv" "$E/iris_x.csv"; then
            ok "iris_like: the inputs alone, the same lines: $refline"
        else
            bad "iris_like: the inputs alone give other lines than the file with labels"
        fi
    fi
    if grep -q '"virginica, ""tall"""' "$E/iris.csv"; then
        ok "iris_like: the name with a comma and quotes, quoted as CSV quotes it"
    else
        bad "iris_like: no '\"virginica, \"\"tall\"\"\"' in the output"
    fi
else
    bad "iris_like: does not build or train: $(head -3 "$E/iris.build" "$E/iris.train")"
fi

# ---- an interrupt: SIGINT while 400,000 rows are read and predicted --------------------
# The signal lands while the file is read or while rows are written: the
# run stops between batches, exits 130 with one line, leaves no FILE.tmp,
# and FILE keeps what it held.
if [ -f "$E/iris.st" ]; then
    python3 -c 'import random, sys
r = random.Random(5)
with open(sys.argv[1], "w") as f:
    for _ in range(400000):
        f.write("%.2f,%.2f,%.2f,%.2f\n" % (r.uniform(4, 8), r.uniform(2, 4), r.uniform(10, 70), r.uniform(50, 900)))' "$E/big.csv"
    printf 'kept\n' >"$E/int.csv"
    rc=$(python3 -c 'import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[-1] + ".err", "w"))
time.sleep(0.05)
p.send_signal(signal.SIGINT)
print(p.wait())' "$E/iris_like" --load "$E/iris.st" --predict "$E/big.csv" --out "$E/int.csv")
    err=$(cat "$E/int.csv.err")
    if [ "$rc" = 130 ] && [ "$(cat "$E/int.csv")" = kept ] && [ ! -e "$E/int.csv.tmp" ] &&
       [ "$(wc -l <"$E/int.csv.err")" -eq 1 ] && echo "$err" | grep -q 'interrupted by SIGINT after [0-9]* of 400000 rows: nothing written'; then
        ok "--predict interrupted: exit 130, FILE kept, no temporary: $err"
    else
        bad "--predict interrupted: exit $rc, FILE '$(head -c 20 "$E/int.csv")', tmp $(ls "$E"/int.csv.tmp 2>/dev/null), stderr: $err"
    fi
fi

echo "run_predict: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && rm -rf "$E"
[ "$fail" -eq 0 ]
