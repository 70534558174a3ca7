#!/bin/sh
# tests/run_plot.sh: --plot FILE.svg, the loss and accuracy per epoch.
#
# Each chart is rendered to PNG by librsvg's rsvg-convert (Debian package
# librsvg2-bin, which scripts/deps.sh installs) and checked by
# tests/e2e/svg_check.py (standard library only): well-formed XML, the
# model's name as title, axis titles, numeric ticks, the legend, and the
# curves' colours drawn in each panel's plot area (the checker must refuse
# the same chart with its curves taken out).  Runs:
#   - tests/e2e/spiral_test.nn (a test set every 2 epochs): two panels,
#     train and test curves in both;
#   - a NaN stop (tests/e2e/nan_late.nn: exit 3 in epoch 2): the one epoch
#     there is, as markers, in a valid chart; the same for --epochs 1;
#   - a regression model (no accuracy): one panel;
#   - --epochs 0: empty panels, still valid; a run stopped by SIGTERM
#     (exit 130): the chart of the epochs run so far;
#   - write errors: a missing directory, and a full disk (ulimit -f) with a
#     previous chart in place: exit 1 naming the file, the previous chart
#     kept byte for byte, no temporary left, the --save checkpoint written.
# Run from the repository root after `make`.  Exit 0 when all hold.
E=build/plot.$$
NNC=build/nnc
PY=$(command -v python3)
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL build/nnc or build/libnnrt.a is missing: run make first"
    exit 1
fi
for tool in rsvg-convert python3; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "FAIL $tool is missing: sh scripts/deps.sh installs it (librsvg2-bin, python3)"
        exit 1
    fi
done
rm -rf "$E"
mkdir -p "$E" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM

cat >"$E/reg.nn" <<'EOF'
model reg;
input x: f32[B, 1];
label t: f32[B, 1];
y    = dense(x, 1);
loss = mse(y, t);
output y;
minimize loss;
train { data = table(x=[[0], [1], [2], [3]], t=[[1], [3], [5], [7]]); optimizer = sgd(lr=0.05);
        epochs = 20; batch = 4; }
EOF
for m in tests/e2e/spiral_test.nn tests/e2e/nan_late.nn models/spiral_mlp.nn "$E/reg.nn"; do
    if ! "$NNC" "$m" -o "$E/$(basename "$m" .nn)" 2>"$E/build.err"; then
        bad "building $m: $(head -3 "$E/build.err")"
        echo "run_plot: $pass passed, $fail failed"
        exit 1
    fi
done

TRAIN=train=1f77b4 TEST=test=d62728
# chart LABEL WANT_RC SVG TITLE PANELS LEFT RIGHT -- PROG ARGS...: runs PROG
# with ARGS, wants exit WANT_RC, then checks SVG
chart() {
    label=$1 want_rc=$2 svg=$3 title=$4 panels=$5 left=$6 right=$7
    shift 8
    if [ "$1" = true ]; then   # the run is over: its exit status is in $rc, stderr in $E/err
        :
    else
        "$@" >"$E/out" 2>"$E/err"
        rc=$?
    fi
    if [ $rc -ne "$want_rc" ]; then
        bad "$label: exit $rc, want $want_rc: $(head -1 "$E/err")"
    elif [ ! -s "$svg" ]; then
        bad "$label: no chart $svg"
    elif ! rsvg-convert "$svg" -o "$svg.png" 2>"$E/rsvg.err"; then
        bad "$label: rsvg-convert refuses $svg: $(head -1 "$E/rsvg.err")"
    elif ! "$PY" tests/e2e/svg_check.py "$svg" "$svg.png" "$title" "$panels" "$left" "$right" >"$E/check" 2>&1; then
        bad "$label: $(cat "$E/check")"
    else
        ok "$label: exit $rc; $(cat "$E/check")"
    fi
}

chart "spiral_test --plot (test every 2 epochs)" 0 "$E/a.svg" spiral_test 2 "$TRAIN,$TEST" "$TRAIN,$TEST" -- \
    "$E/spiral_test" --quiet --plot "$E/a.svg"
# the checker itself: the first chart with its curves and markers taken out
# must be refused (a pixel count that cannot fail would prove nothing)
if [ -s "$E/a.svg" ]; then
    grep -v '<polyline\|<circle' "$E/a.svg" >"$E/bare.svg"
    rsvg-convert "$E/bare.svg" -o "$E/bare.png" 2>/dev/null
    if "$PY" tests/e2e/svg_check.py "$E/bare.svg" "$E/bare.png" spiral_test 2 "$TRAIN,$TEST" "$TRAIN,$TEST" >"$E/check" 2>&1; then
        bad "svg_check.py accepts a chart without its curves: $(cat "$E/check")"
    else
        ok "svg_check.py refuses the chart with its curves taken out: $(cat "$E/check")"
    fi
fi
chart "nan_late --plot: a NaN stop in epoch 2" 3 "$E/nan.svg" nan_late 2 "$TRAIN" "$TRAIN" -- \
    "$E/nan_late" --plot "$E/nan.svg"
chart "spiral_mlp --plot --epochs 1" 0 "$E/one.svg" spiral_mlp 2 "$TRAIN" "$TRAIN" -- \
    "$E/spiral_mlp" --epochs 1 --plot "$E/one.svg"
chart "a regression model --plot: no accuracy, one panel" 0 "$E/reg.svg" reg 1 "$TRAIN" - -- \
    "$E/reg" --plot "$E/reg.svg"

# an interrupt (SIGTERM): exit 130, and the chart of the epochs run so far
"$E/spiral_mlp" --epochs 1000000 --quiet --plot "$E/int.svg" --save "$E/int.st" >"$E/int.out" 2>"$E/int.err" &
pid=$!
sleep 2
kill -TERM $pid
wait $pid
rc=$?
cp "$E/int.err" "$E/err"
chart "spiral_mlp --plot stopped by SIGTERM" 130 "$E/int.svg" spiral_mlp 2 "$TRAIN" "$TRAIN" -- true
# --load with the --log-csv being resumed: the chart shows the whole run,
# the log's kept rows first (6 epochs, then 6 more: 12 points a line)
"$E/spiral_mlp" --epochs 6 --quiet --save "$E/half.st" --log-csv "$E/half.csv" >"$E/out" 2>"$E/err" &&
    "$E/spiral_mlp" --epochs 12 --quiet --load "$E/half.st" --log-csv "$E/half.csv" --plot "$E/whole.svg" \
        >"$E/out" 2>"$E/err"
rc=$?
points=$("$PY" -c 'import sys, xml.etree.ElementTree as E
lines = [e for e in E.parse(sys.argv[1]).iter() if e.tag.endswith("polyline")]
print(",".join(str(len(l.get("points").split())) for l in lines))' "$E/whole.svg" 2>>"$E/err")
if [ $rc -eq 0 ] && [ -n "$points" ] && [ "$(echo "$points" | tr ',' '\n' | sort -u)" = 12 ]; then
    ok "--plot after --load with its --log-csv: every line has the 12 epochs ($points points)"
else
    bad "--plot after --load with its --log-csv: exit $rc, points per line '$points', want 12 each: $(head -1 "$E/err")"
fi

# --epochs 0: no figures; the chart is still valid XML with its axes
"$E/spiral_mlp" --epochs 0 --plot "$E/zero.svg" >"$E/out" 2>"$E/err"
rc=$?
if [ $rc -eq 0 ] && "$PY" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$E/zero.svg" 2>"$E/err" &&
   grep -q 'no loss figures' "$E/zero.svg" && rsvg-convert "$E/zero.svg" -o "$E/zero.png" 2>>"$E/err"; then
    ok "spiral_mlp --plot --epochs 0: exit 0, a valid chart that says there are no figures"
else
    bad "spiral_mlp --plot --epochs 0: exit $rc: $(head -1 "$E/err")"
fi

# ---- write errors ------------------------------------------------------------------------
"$E/spiral_mlp" --epochs 2 --plot "$E/nodir/p.svg" --save "$E/ck.st" >"$E/out" 2>"$E/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$E/err")" -eq 1 ] && grep -q "cannot write plot $E/nodir/p.svg.tmp: No such file or directory" "$E/err" &&
   [ -s "$E/ck.st" ] && grep -q '^done: 2 epochs' "$E/out"; then
    ok "--plot into a missing directory: exit 1, the checkpoint and the summary still written: $(cat "$E/err")"
else
    bad "--plot into a missing directory: exit $rc: $(head -2 "$E/err")"
fi

mkdir -p "$E/full"
printf 'a previous chart\n' >"$E/full/p.svg"
cp "$E/full/p.svg" "$E/keep"
# 4 blocks of 512 bytes: the checkpoint (under 1 KB) fits, the chart does not
(ulimit -f 4 && trap '' XFSZ && "$E/spiral_mlp" --quiet --plot "$E/full/p.svg" --save "$E/full/ck.st") >"$E/out" 2>"$E/err"
rc=$?
left=$(ls "$E/full" | grep -c '\.tmp$')
if [ $rc -eq 1 ] && grep -q "cannot write plot $E/full/p.svg: File too large" "$E/err" && cmp -s "$E/keep" "$E/full/p.svg" &&
   [ "$left" -eq 0 ] && [ -s "$E/full/ck.st" ]; then
    ok "--plot past the size limit: exit 1, the previous chart kept, no temporary left, the checkpoint written: $(cat "$E/err")"
else
    bad "--plot past the size limit: exit $rc, $left temporaries: $(head -2 "$E/err")"
fi

echo "run_plot: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$E"
else
    echo "     (work kept in $E)"
fi
[ "$fail" -eq 0 ]
