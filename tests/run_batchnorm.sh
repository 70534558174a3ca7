#!/bin/sh
# tests/run_batchnorm.sh: the batch norm example of docs/language.md
# ("Layers"), taken from the page itself, built and trained; then what the
# page says of its running statistics:
#   - the checkpoint holds cn.mean, cn.var, hn.mean, hn.var, moved away from
#     their start (0 and 1) by training;
#   - evaluation reads them, not the batch: --predict --load gives a row the
#     same output alone as among all the rows (with the batch's statistics
#     it would not);
#   - --predict --init-from refuses the model in one line (exit 1), and
#     --init-from for training names them among the tensors it leaves out.
# Run from the repository root after `make`; a few seconds.  Exit 0 when
# every check holds.
NNC=${NNC:-build/nnc}
W=build/batchnorm.$$
PY=$(command -v python3)
[ -x "$NNC" ] || { echo "FAIL $NNC is missing: run make first"; exit 1; }
[ -n "$PY" ] || { echo "FAIL python3 is missing (scripts/deps.sh installs it)"; exit 1; }
rm -rf "$W"
mkdir -p "$W" || exit 1
trap 'rm -rf "$W"; exit 130' INT TERM
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

# The first fenced block of the page that starts "model bn_layers;".
awk '/^```/ { if (inb) { if (keep) exit; inb = 0; next } inb = 1; keep = 0; next }
     inb && /^model bn_layers;/ { keep = 1 }
     inb && keep { print }' docs/language.md >"$W/bn_layers.nn"
if grep -q '^model bn_layers;' "$W/bn_layers.nn" && grep -q 'batchnorm(' "$W/bn_layers.nn"; then
    ok "the example of docs/language.md: $(wc -l <"$W/bn_layers.nn") lines"
else
    bad "no block 'model bn_layers;' with a batchnorm in docs/language.md"
    exit 1
fi
if "$NNC" --check "$W/bn_layers.nn" && "$NNC" "$W/bn_layers.nn" -o "$W/bn_layers" 2>"$W/build.err"; then
    ok "nnc --check and nnc -o build it"
else
    bad "nnc on the example: $(head -3 "$W/build.err")"
    exit 1
fi
P=$W/bn_layers
if "$P" --quiet --save "$W/bn.st" >"$W/train.out" 2>&1; then
    ok "trained: $(cat "$W/train.out")"
else
    bad "training: $(cat "$W/train.out")"
fi

# The checkpoint's running statistics.
"$PY" - "$W/bn.st" <<'PYEOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
    data = f.read()
want = {"cn.mean": (4, 0.0), "cn.var": (4, 1.0), "hn.mean": (16, 0.0), "hn.var": (16, 1.0)}
for name, (count, start) in want.items():
    e = head.get(name)
    if not e or e["shape"] != [count]:
        print("FAIL checkpoint: %s is %s, want F32 [%d]" % (name, e, count))
        sys.exit(1)
    lo, hi = e["data_offsets"]
    v = struct.unpack("<%df" % count, data[lo:hi])
    if all(x == start for x in v):
        print("FAIL checkpoint: %s still at its start %g: training did not move it" % (name, start))
        sys.exit(1)
print("ok   checkpoint: cn.mean, cn.var [4] and hn.mean, hn.var [16], moved from 0 and 1 (cn.var[0] = %.6g)"
      % struct.unpack("<f", data[head["cn.var"]["data_offsets"][0]:][:4])[0])
PYEOF
[ $? -eq 0 ] || fails=$((fails + 1))

# A row's output alone and among the others: evaluation takes the running statistics.
head -n 4 tests/e2e/bars8.csv >"$W/three.csv"
if "$P" --load "$W/bn.st" --predict tests/e2e/bars8.csv --out "$W/all.csv" >/dev/null 2>"$W/p.err" &&
   "$P" --load "$W/bn.st" --predict "$W/three.csv" --out "$W/three.out" >/dev/null 2>>"$W/p.err"; then
    if [ "$(head -n 4 "$W/all.csv")" = "$(cat "$W/three.out")" ] && [ "$(wc -l <"$W/all.csv")" -eq 61 ]; then
        ok "--predict --load: the first 3 rows alone give the lines they give among all 60"
    else
        bad "--predict: the first 3 rows alone differ from the same rows among all 60"
    fi
else
    bad "--predict --load: $(head -2 "$W/p.err")"
fi

"$P" --init-from "$W/bn.st" --predict "$W/three.csv" >"$W/i.out" 2>"$W/i.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$W/i.err")" -eq 1 ] && grep -q "running statistics of its batch norms (cn.mean, ...)" "$W/i.err" && [ ! -s "$W/i.out" ]; then
    ok "--predict --init-from: exit 1, $(cat "$W/i.err")"
else
    bad "--predict --init-from: exit $rc, $(cat "$W/i.err")"
fi
"$P" --init-from "$W/bn.st" --epochs 1 >"$W/f.out" 2>"$W/f.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "cn.mean" "$W/f.err" && grep -q "hn.var" "$W/f.err"; then
    ok "--init-from for training: the running statistics among the tensors left out: $(head -c 160 "$W/f.err")..."
else
    bad "--init-from for training: exit $rc, $(cat "$W/f.err")"
fi

echo "batchnorm checks: $fails failed"
[ $fails -eq 0 ] && rm -rf "$W"
[ $fails -eq 0 ]
