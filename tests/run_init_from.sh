#!/bin/sh
# tests/run_init_from.sh: --init-from FILE, params from any safetensors file.
#
# Files in PyTorch's layout come from tests/e2e/st_write.py (standard
# library only), which first proves itself byte for byte against the
# safetensors library's own serialization examples.  With
# models/spiral_mlp.nn (dense layers y.l0 [2,10] and y.l1 [10,3], momentum):
#   - its 30-epoch checkpoint, read back (tests/e2e/st_read.py) and made
#     into a PyTorch nn.Sequential(Linear(2,10), Sigmoid(), Linear(10,3))
#     state_dict ("0.weight" [10,2] = y.l0.W transposed, ...) saved as
#     save_file saves it, then converted back as docs/language.md shows
#     (names mapped, weights transposed, no __metadata__, an I64 buffer
#     left in): --init-from it with --epochs 0 gives the checkpoint's loss
#     and accuracy exactly, says "params from FILE" and warns once about
#     the buffer;
#   - the same file in F16 and in F64 loads (converted);
#   - --init-from then training starts at epoch 1 (a fresh optimizer),
#     where --load of the same checkpoint resumes at epoch 31;
#   - refused with exit 1 and one line naming the param: the PyTorch names
#     unconverted, the weights not transposed (the hint says so), an I64
#     param; --init-from with --load is a flag error (exit 2).
# Run from the repository root after `make`.  Exit 0 when all hold.
E=build/init_from.$$
NNC=build/nnc
PY=$(command -v python3)
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# field FILE NAME: the value after "| NAME " on the summary line of FILE
field() { sed -n "s/^done:.*| $2 \([-0-9.naifNIF]*\).*/\1/p" "$1" | tail -1; }

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL build/nnc or build/libnnrt.a is missing: run make first"
    exit 1
fi
if [ -z "$PY" ]; then
    echo "FAIL python3 is missing (the safetensors files are written with it)"
    exit 1
fi
rm -rf "$E"
mkdir -p "$E" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM

if "$PY" tests/e2e/st_write.py --self-check 2>"$E/self.err"; then
    ok "st_write.py writes the safetensors library's own examples byte for byte"
else
    bad "st_write.py: $(cat "$E/self.err")"
fi

P=$E/spiral_mlp
if ! "$NNC" models/spiral_mlp.nn -o "$P" 2>"$E/build.err"; then
    bad "building spiral_mlp: $(head -3 "$E/build.err")"
    echo "run_init_from: $pass passed, $fail failed"
    exit 1
fi
"$P" --epochs 30 --save "$E/ck.st" >"$E/ck.out" 2>&1
want_loss=$(field "$E/ck.out" loss)
want_acc=$(field "$E/ck.out" acc)

# The checkpoint as PyTorch's nn.Sequential state_dict, and that state_dict
# converted back to nnc's names and layout, as docs/language.md does it.
PYTHONPATH=tests/e2e "$PY" - "$E" <<'EOF' 2>"$E/py.err" || bad "writing the PyTorch-layout files: $(tail -1 "$E/py.err")"
import sys
import st_read, st_write
E = sys.argv[1]
_, ts = st_read.read(E + "/ck.st")
nnc = {name: (shape, values) for name, dtype, shape, values in ts}

def transpose(shape, v):
    r, c = shape
    return [c, r], [v[i * c + j] for j in range(c) for i in range(r)]

# nnc -> PyTorch: Linear.weight is [out, in], the transpose of a dense W [in, out]
torch_sd = {}
for i, layer in ((0, "y.l0"), (2, "y.l1")):
    shape, w = transpose(*nnc[layer + ".W"])
    torch_sd["%d.weight" % i] = ("F32", shape, w)
    torch_sd["%d.bias" % i] = ("F32", *nnc[layer + ".b"])
st_write.save(E + "/torch.st", torch_sd)

# PyTorch -> nnc, plus a buffer no param takes
def convert(dtype):
    out = {"num_batches_tracked": ("I64", [], [7])}
    for i, layer in ((0, "y.l0"), (2, "y.l1")):
        shape, w = transpose(*torch_sd["%d.weight" % i][1:])
        out[layer + ".W"] = (dtype, shape, w)
        out[layer + ".b"] = (dtype, *torch_sd["%d.bias" % i][1:])
    return out
for dtype in ("F32", "F16", "F64"):
    st_write.save(E + "/conv_%s.st" % dtype, convert(dtype))
# the weights under nnc's names but not transposed
bad = convert("F32")
bad["y.l0.W"] = ("F32", *torch_sd["0.weight"][1:])
st_write.save(E + "/untransposed.st", bad)
bad = convert("F32")
bad["y.l1.b"] = ("I64", [3], [0, 1, 2])
st_write.save(E + "/int.st", bad)
EOF

# ---- loads -------------------------------------------------------------------------
"$P" --init-from "$E/conv_F32.st" --epochs 0 >"$E/f32.out" 2>"$E/f32.err"
rc=$?
loss=$(field "$E/f32.out" loss)
acc=$(field "$E/f32.out" acc)
nwarn=$(grep -c 'warning' "$E/f32.err")
if [ $rc -ne 0 ]; then
    bad "--init-from a PyTorch state_dict converted: exit $rc: $(head -1 "$E/f32.err")"
elif [ -z "$want_loss" ] || [ "$loss" != "$want_loss" ] || [ "$acc" != "$want_acc" ]; then
    bad "--init-from a PyTorch state_dict converted: loss $loss acc $acc, the checkpoint's $want_loss $want_acc"
elif ! grep -q "^params from $E/conv_F32.st\$" "$E/f32.out"; then
    bad "--init-from: no 'params from FILE' line: $(head -1 "$E/f32.out")"
elif [ "$nwarn" -ne 1 ] || ! grep -q "1 tensor is not a param of the model, not loaded: num_batches_tracked \[\]" "$E/f32.err"; then
    bad "--init-from: want one warning naming num_batches_tracked, got: $(cat "$E/f32.err")"
else
    ok "--init-from a PyTorch state_dict converted (no __metadata__, transposed, an I64 buffer): loss $loss acc $acc, the checkpoint's; warns: $(cat "$E/f32.err")"
fi

for dtype in F16 F64; do
    "$P" --init-from "$E/conv_$dtype.st" --epochs 0 >"$E/$dtype.out" 2>"$E/$dtype.err"
    rc=$?
    loss=$(field "$E/$dtype.out" loss)
    if [ $rc -eq 0 ] && [ -n "$loss" ] && awk "BEGIN { d = $loss - $want_loss; exit !(d < 0.01 && d > -0.01) }"; then
        ok "--init-from the same params in $dtype: converted, loss $loss (F32: $want_loss)"
    else
        bad "--init-from the same params in $dtype: exit $rc, loss '$loss' (F32: $want_loss): $(head -1 "$E/$dtype.err")"
    fi
done

# a fresh optimizer from epoch 1, against --load resuming at 31
"$P" --init-from "$E/ck.st" --epochs 2 >"$E/fresh.out" 2>"$E/fresh.err"
rc=$?
"$P" --load "$E/ck.st" --epochs 32 >"$E/resume.out" 2>&1
first=$(grep '^| epoch' "$E/fresh.out" | head -1 | sed 's/^| epoch \([0-9]*\) .*/\1/')
rfirst=$(grep '^| epoch' "$E/resume.out" | head -1 | sed 's/^| epoch \([0-9]*\) .*/\1/')
if [ $rc -eq 0 ] && [ "$first" = 1 ] && grep -q '^done: 2 epochs' "$E/fresh.out" && [ "$rfirst" = 31 ] &&
   grep -q 'optimizer\|opt\.' "$E/fresh.err"; then
    ok "--init-from a checkpoint: training starts at epoch 1 (--load resumes at $rfirst); its optimizer state is named and not loaded"
else
    bad "--init-from a checkpoint then training: exit $rc, first epoch '$first' (--load: '$rfirst'): $(cat "$E/fresh.err" | head -2)"
fi

# ---- refusals -------------------------------------------------------------------------
# refused LABEL WANT_RC WANT_TEXT ARGS...: exit WANT_RC, one line on stderr with WANT_TEXT
refused() {
    label=$1 want_rc=$2 want=$3
    shift 3
    "$P" "$@" >"$E/r.out" 2>"$E/r.err"
    rc=$?
    n=$(wc -l <"$E/r.err")
    if [ $rc -ne "$want_rc" ] || [ "$n" -ne 1 ] || ! grep -F -q -- "$want" "$E/r.err"; then
        bad "$label: exit $rc (want $want_rc), $n lines, want '$want': $(head -2 "$E/r.err")"
    else
        ok "$label: exit $rc: $(cat "$E/r.err")"
    fi
}
refused "--init-from with PyTorch's names" 1 "has no tensor 'y.l0.W' for the model's param y.l0.W [2,10] (the file's other tensors: 0.bias [10], 0.weight [10,2], 2.bias [3], 2.weight [3,10])" \
    --init-from "$E/torch.st" --epochs 0
refused "--init-from a weight not transposed" 1 "tensor 'y.l0.W' has shape [10,2], the model's param y.l0.W is [2,10] (its transpose" \
    --init-from "$E/untransposed.st" --epochs 0
refused "--init-from an I64 param" 1 "tensor 'y.l1.b' is I64; the param y.l1.b needs floats" \
    --init-from "$E/int.st" --epochs 0
refused "--init-from with --load" 2 "--init-from and --load cannot be used together" \
    --init-from "$E/ck.st" --load "$E/ck.st"
refused "--init-from a missing file" 1 "$E/none.st" --init-from "$E/none.st"

echo "run_init_from: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$E"
else
    echo "     (work kept in $E)"
fi
[ "$fail" -eq 0 ]
