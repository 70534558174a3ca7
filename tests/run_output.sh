#!/bin/sh
# tests/run_output.sh: output that fails loudly, and nothing half-written.
#
# A full disk is simulated with a file-size limit (ulimit -f, SIGXFSZ
# ignored, so a write past it fails with EFBIG as a full disk fails with
# ENOSPC) and a full stdout with /dev/full.  Checked:
#   nnc    -o M.c, --emit library (M.c and M.h), --dot past the limit: exit 1,
#          the file named, the previous file kept byte for byte, no
#          temporary left; -o NAME leaves the program and NAME.c, its
#          source, and nothing else; --emit library's header names
#          the files written and m_save's byte order and layout; -o -, -dG, --report, --help into
#          /dev/full: exit 1 with "cannot write standard output";
#   trainer  stdout into /dev/full: exit 1 and the message; --log-csv
#          past the limit: exit 1 naming the log, the rows written so far on
#          disk, and the --save checkpoint written with the state at the
#          last epoch boundary, which --load resumes; a NaN stop
#          (tests/e2e/nan_late.nn: lr grows to 1e30 in epoch 2): exit 3 and
#          a checkpoint byte-identical to an unbroken one-epoch run's.
# Run from the repository root after `make`.  Exit 0 when all hold.
E=build/output.$$
NNC=${NNC:-build/nnc}
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL build/nnc or build/libnnrt.a is missing: run make first"
    exit 1
fi
rm -rf "$E"
mkdir -p "$E" || exit 1
trap 'rm -rf "$E"; exit 130' INT TERM

# limited BLOCKS CMD...: CMD with files limited to BLOCKS 512-byte blocks;
# exit status in $rc, stderr in $E/err.
limited() {
    blocks=$1
    shift
    (ulimit -f "$blocks" && trap '' XFSZ && "$@") >"$E/out" 2>"$E/err"
    rc=$?
}
# leftovers DIR: files in DIR whose names a temporary would have.
leftovers() { ls "$1" | grep -E '\.[A-Za-z0-9]{6}$|\.tmp$' ; }
# failed LABEL WANT: exit 1 and $E/err has WANT (a fixed string).
failed() {
    if [ "$rc" -ne 1 ]; then
        bad "$1: exit $rc, want 1: $(head -1 "$E/err")"
        return 1
    elif ! grep -F -q -- "$2" "$E/err"; then
        bad "$1: stderr does not say '$2': $(head -1 "$E/err")"
        return 1
    fi
    return 0
}

# ---- nnc: files --------------------------------------------------------------
M=models/twolayer.nn
D=$E/nnc
mkdir -p "$D"
printf 'the previous file\n' >"$D/keep.ref"
for kind in program library; do
    cp "$D/keep.ref" "$D/m.c"
    cp "$D/keep.ref" "$D/m.h"
    limited 4 "$NNC" --emit "$kind" "$M" -o "$D/m.c"
    if failed "nnc --emit $kind past the size limit" "cannot write $D/m.c"; then
        if ! cmp -s "$D/keep.ref" "$D/m.c" || ! cmp -s "$D/keep.ref" "$D/m.h"; then
            bad "nnc --emit $kind past the size limit: the previous m.c or m.h was changed"
        elif [ -n "$(leftovers "$D")" ]; then
            bad "nnc --emit $kind past the size limit: temporaries left: $(leftovers "$D" | tr '\n' ' ')"
        else
            ok "nnc --emit $kind past the size limit: exit 1, previous files kept, no temporary: $(head -1 "$E/err")"
        fi
    fi
done
"$NNC" --emit library "$M" -o "$D/m.c" 2>"$E/err"
if [ $? -eq 0 ] && grep -q twolayer_train_step "$D/m.h" && grep -q twolayer_train_step "$D/m.c" && [ -z "$(leftovers "$D")" ]; then
    ok "nnc --emit library: m.c and m.h written in full, no temporary"
else
    bad "nnc --emit library without a limit: $(head -1 "$E/err")"
fi
# The header's own comment names the files as written (m.h, m.c, not the
# model's name) and says how m_save lays out its buffer: little-endian
# floats, each param's byte range, the last ending at TWOLAYER_SAVE_BYTES.
last=$(sed -n 's/^ \*     bytes [0-9]* to \([0-9]*\): .*/\1/p' "$D/m.h" | tail -1)
save=$(sed -n 's/^#define TWOLAYER_SAVE_BYTES \([0-9]*\).*/\1/p' "$D/m.h")
if ! head -1 "$D/m.h" | grep -q '^/\* m\.h: ' || ! head -2 "$D/m.h" | grep -q 'functions are in m\.c\.' ||
    ! head -1 "$D/m.c" | grep -q '^/\* m\.c: '; then
    bad "nnc --emit library -o m.c: the first lines name other files: $(head -1 "$D/m.h") / $(head -1 "$D/m.c")"
elif ! grep -q 'little-endian' "$D/m.h" || [ -z "$last" ] || [ "$((last + 1))" != "$save" ]; then
    bad "nnc --emit library: m.h does not give m_save's byte order and layout (last byte '$last', SAVE_BYTES '$save')"
else
    ok "nnc --emit library: m.h's comment names m.h and m.c, the byte order and the $save bytes of each param"
fi
limited 2 "$NNC" "$M" --dot "$D/g.dot"
if failed "nnc --dot past the size limit" "cannot write $D/g.dot"; then
    if [ -e "$D/g.dot" ] || [ -n "$(leftovers "$D")" ]; then
        bad "nnc --dot past the size limit: a partial g.dot or a temporary is left"
    else
        ok "nnc --dot past the size limit: exit 1, nothing left: $(head -1 "$E/err")"
    fi
fi
limited 4 "$NNC" "$M" -o "$D/nodir/m.c"
failed "nnc -o into a missing directory" "cannot write $D/nodir/m.c" && ok "nnc -o into a missing directory: $(head -1 "$E/err")"

# ---- nnc -o NAME: the program, and its source NAME.c kept beside it ----------
P=$E/prog
mkdir -p "$P"
"$NNC" models/and.nn -o "$P/and" 2>"$E/err"
rc=$?
"$NNC" models/and.nn -o - | grep -v '^ \*   nnc ' >"$E/and.want"
if [ "$rc" -ne 0 ] || [ ! -x "$P/and" ]; then
    bad "nnc -o and: exit $rc: $(head -1 "$E/err")"
elif [ "$(ls "$P" | tr '\n' ' ')" != "and and.c " ]; then
    bad "nnc -o and: the folder holds '$(ls "$P" | tr '\n' ' ')', want the program and and.c"
elif ! grep -v '^ \*   nnc ' "$P/and.c" | cmp -s - "$E/and.want"; then
    bad "nnc -o and: and.c is not the source that -o and.c writes"
else
    ok "nnc -o and: the program and its source and.c beside it, nothing else"
fi

# ---- nnc: standard output ------------------------------------------------------
for flags in "-o -" "-dG" "--report" "--explain" "--help"; do
    # shellcheck disable=SC2086
    "$NNC" $flags "$M" >/dev/full 2>"$E/err"
    rc=$?
    failed "nnc $flags > /dev/full" "cannot write standard output" && ok "nnc $flags > /dev/full: exit 1: $(head -1 "$E/err")"
done

# ---- the trainer ----------------------------------------------------------------
T=$E/train
mkdir -p "$T"
if ! "$NNC" "$M" -o "$T/twolayer" 2>"$E/err" || ! "$NNC" tests/e2e/nan_late.nn -o "$T/nan_late" 2>>"$E/err"; then
    bad "building the trainers: $(head -3 "$E/err")"
else
    "$T/twolayer" --epochs 3 >/dev/full 2>"$E/err"
    rc=$?
    failed "trainer > /dev/full" "cannot write standard output" && ok "trainer > /dev/full: exit 1: $(head -1 "$E/err")"

    # 300 epochs of about 40 bytes a row pass 2 KB early; the checkpoint (under 1 KB) fits.
    limited 4 "$T/twolayer" --quiet --log-csv "$T/log.csv" --save "$T/ck.safetensors"
    rows=$(($(wc -l <"$T/log.csv") - 1))
    if failed "trainer --log-csv past the size limit" "cannot write log $T/log.csv"; then
        saved=$(grep -c "saved $T/ck.safetensors" "$E/err")
        "$T/twolayer" --load "$T/ck.safetensors" --epochs 300 >"$E/out" 2>"$E/err"
        at=$(sed -n 's/^resumed from .* at epoch \([0-9]*\),.*/\1/p' "$E/out")
        if [ "$saved" -ne 1 ]; then
            bad "trainer --log-csv past the size limit: no checkpoint saved"
        elif [ -z "$at" ] || [ "$at" -lt 1 ] || [ "$rows" -lt $((at - 1)) ]; then
            bad "trainer --log-csv past the size limit: the checkpoint holds epoch '$at', the log $rows rows"
        elif ! grep -q '^done: 300 epochs' "$E/out"; then
            bad "trainer --log-csv past the size limit: --load of its checkpoint did not finish: $(head -1 "$E/err")"
        else
            ok "trainer --log-csv past the size limit: exit 1, $rows rows on disk, checkpoint at epoch $at resumed to 300"
        fi
    fi

    "$T/nan_late" --save "$T/nan.safetensors" >"$E/out" 2>"$E/err"
    rc=$?
    "$T/nan_late" --epochs 1 --save "$T/one.safetensors" >/dev/null 2>&1
    if [ "$rc" -ne 3 ] || ! grep -q "loss is .* at epoch 2" "$E/err"; then
        bad "NaN stop: exit $rc, want 3 at epoch 2: $(head -1 "$E/err")"
    elif ! grep -q "saved $T/nan.safetensors: the state at the end of epoch 1 (step 10)" "$E/err"; then
        bad "NaN stop: no checkpoint line: $(tail -1 "$E/err")"
    elif ! cmp -s "$T/nan.safetensors" "$T/one.safetensors"; then
        bad "NaN stop: the checkpoint differs from an unbroken one-epoch run's"
    else
        ok "NaN stop: exit 3 at epoch 2, checkpoint of epoch 1 equal byte for byte to a one-epoch run's"
    fi
fi

echo "run_output: $pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then
    rm -rf "$E"
    exit 0
fi
echo "run_output: files kept in $E"
exit 1
