#!/bin/sh
# tests/run_embedded.sh [--report]: the training library (nnc --emit
# library) on 32-bit ARM.  docs/embedded.md says what each part
# shows and how to do the same on a real board.
#
#   0. tools: arm-none-eabi-gcc and newlib, arm-linux-gnueabihf-gcc,
#      qemu-arm, qemu-system-arm.  Missing ones are installed through
#      `sh scripts/deps.sh embedded` (as root, as in CI); where that cannot
#      be done the script prints "embedded tools not installed: skipped
#      (sh scripts/deps.sh embedded)" and exits 0.
#   1. cross-compile: every small model's library (SMALL) compiles with
#      arm-none-eabi-gcc $M4 -std=c99 -Os -Wall -Wextra -Werror -c, and
#      arm-none-eabi-size shows data 0 and bss equal to the header's
#      M_RAM_BYTES; its undefined symbols are only memcpy, memset and the
#      exact libm functions (fmaxf, fminf, fabsf, sqrtf, floorf, fmodf): no
#      expf/logf/... (the library brings its own), no double arithmetic
#      (__aeabi_d*), no stdio, no malloc.  Every other model's library
#      compiles the same way, or, where --emit library refuses it
#      (models/lenet.nn, for conv2d), prints one "skip" line once the
#      refusal is checked to be one line.
#   2. run (a): tests/embedded/train_main.c with the library and its data
#      (data_M.h from tests/embedded/gen_data.c), static for
#      arm-linux-gnueabihf under qemu-arm and for x86, both -O2
#      -ffp-contract=off: the two outputs (the loss bits of every step, the
#      final loss and accuracy) are identical.  The final accuracy is
#      printed beside the host program's (nnc M.nn -o M, libnnrt) and must
#      be within ACC_TOL of it (the two start from different random params).
#   3. run (b): the same driver as a bare-metal image for QEMU's mps2-an386
#      (Cortex-M4F; tests/embedded/startup_m4.S and mps2_an386.ld, newlib,
#      semihosting) for BARE_MODELS: its output is identical to x86's too.
#      And the xor image built with -DNO_FPU_ENABLE (the startup leaves
#      CPACR alone) must fault before it prints anything: the float code
#      really runs on the FPU, which the startup turns on.
#
# --report: only the footprint table (make embedded-report): text, data,
# bss of each small model's library object at -Os, and its RAM split.
# Run from the repository root after `make`.  Exit 0 when all hold.
NNC=build/nnc
E=build/embedded
# Models by name: models/NAME.nn, or tests/embedded/NAME.nn (cnn12, the
# small CNN on 12x12 images, whose data is tests/embedded/shapes12.csv;
# spiral_bn, an MLP with batch norm).
SMALL="twolayer spiral_mlp xor and or nand topics cnn12 spiral_bn"
BARE_MODELS="$SMALL"
ACC_TOL=0.05
M4="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
STRICT="-std=c99 -Os -Wall -Wextra -Werror"
RUNFLAGS="-std=c99 -O2 -ffp-contract=off"
NEWLIB_RDIMON=/usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/librdimon.a
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

report=0
[ "${1:-}" = "--report" ] && report=1

have_tools() {
    for t in arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm arm-linux-gnueabihf-gcc qemu-arm qemu-system-arm; do
        command -v $t >/dev/null 2>&1 || return 1
    done
    [ -f $NEWLIB_RDIMON ]
}

if ! have_tools; then
    sh scripts/deps.sh embedded >/dev/null 2>&1
    if ! have_tools; then
        echo "embedded tools not installed: skipped (sh scripts/deps.sh embedded)"
        [ $report -eq 1 ] && exit 1
        exit 0
    fi
fi
if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL $NNC or build/libnnrt.a is missing: run make first"
    exit 1
fi
mkdir -p $E/log || exit 1

# upper NAME: the header's macro prefix (twolayer -> TWOLAYER)
upper() { echo "$1" | tr 'a-z' 'A-Z'; }
# macro NAME KEY: the number #define NAME_KEY holds in $E/NAME.h
macro() { sed -n "s/^#define $(upper "$1")_$2 \([0-9]*\).*/\1/p" "$E/$1.h"; }
# field NAME KEY: what the host program's main sets m.KEY to (data.kind,
# epochs...): a line ".epochs = 300," of its NnrtModel initializer, or
# ".kind = NNRT_SRC_SPIRAL," inside its ".data = {" for data.kind.
field() {
    awk -v key="$2" '
        /^        \.[a-z_]+ = \{$/ { parent = $1; sub(/^\./, "", parent); next }
        /^        },$/ { parent = ""; next }
        /^ +\.[a-z_]+ = .*,$/ {
            name = $1; sub(/^\./, "", name)
            val = $0; sub(/^ +\.[a-z_]+ = /, "", val); sub(/,$/, "", val)
            if ((parent == "" ? name : parent "." name) == key) print val
        }' "$E/${1}_prog.c" | tr -d '"'
}

# src NAME: the model's file
src() { if [ -f "models/$1.nn" ]; then echo "models/$1.nn"; else echo "tests/embedded/$1.nn"; fi; }

# emit NAME: the library ($E/NAME.c, NAME.h) and the host program ($E/NAME_prog.c)
emit() {
    "$NNC" "$(src $1)" --emit library -o "$E/$1.c" 2>"$E/log/$1.emit" &&
        "$NNC" "$(src $1)" -o "$E/$1_prog.c" 2>>"$E/log/$1.emit"
}

# size NAME FLAGS: text data bss of the library object built with FLAGS
size_of() {
    arm-none-eabi-gcc $M4 $2 -c -o "$E/$1.m4.o" "$E/$1.c" 2>"$E/log/$1.m4" &&
        arm-none-eabi-size "$E/$1.m4.o" | awk 'NR == 2 { print $1, $2, $3 }'
}

# ---- --report: the footprint table -------------------------------------------------
if [ $report -eq 1 ]; then
    printf 'Cortex-M4F (%s), library object at -Os, bytes:\n\n' "$M4"
    printf '%-11s %6s %5s %6s | %7s %7s %7s %7s %7s %7s | %7s\n' model text data bss \
        params grads state batch arena control RAM
    for m in $SMALL; do
        emit $m || { echo "$m: nnc failed (see $E/log/$m.emit)"; exit 1; }
        sizes=$(size_of $m "-std=c99 -Os -Wall -Wextra") || { echo "$m: does not compile:"; cat "$E/log/$m.m4"; exit 1; }
        set -- $sizes
        ram=$(($(macro $m PARAM_BYTES) + $(macro $m GRAD_BYTES) + $(macro $m STATE_BYTES) + $(macro $m BATCH_BYTES) +
               $(macro $m ARENA_BYTES) + $(macro $m CONTROL_BYTES)))
        printf '%-11s %6s %5s %6s | %7s %7s %7s %7s %7s %7s | %7s\n' $m "$1" "$2" "$3" "$(macro $m PARAM_BYTES)" \
            "$(macro $m GRAD_BYTES)" "$(macro $m STATE_BYTES)" "$(macro $m BATCH_BYTES)" "$(macro $m ARENA_BYTES)" \
            "$(macro $m CONTROL_BYTES)" "$ram"
    done
    echo
    echo "text: code and constants of the library alone (libm's floorf/fmodf/sqrtf/fmaxf and libgcc not counted);"
    echo "bss: all of its RAM, = params + grads + optimizer state + batch + arena + control (RAM column)."
    exit 0
fi

# ---- 1. cross-compile ----------------------------------------------------------------
# The exact libm functions and the two string.h calls the library may use.
ALLOWED=" memcpy memset fmaxf fminf fabsf sqrtf floorf fmodf __aeabi_memcpy __aeabi_memcpy4 __aeabi_memset __aeabi_memclr __aeabi_memclr4 "
# Adam's bias correction takes β^t in double: libgcc's soft-float routines,
# exact IEEE 754 arithmetic on a single-precision FPU.
ALLOWED="${ALLOWED}__aeabi_dmul __aeabi_dsub __aeabi_drsub __aeabi_dadd __aeabi_d2f "
check_symbols() {
    extra=""
    for s in $(arm-none-eabi-nm -u "$E/$1.m4.o" | awk '{ print $2 }'); do
        case "$ALLOWED" in *" $s "*) ;; *) extra="$extra $s" ;; esac
    done
    echo "$extra"
}

for f in models/*.nn tests/embedded/*.nn; do
    m=$(basename "$f" .nn)
    if ! emit $m; then
        # a model library mode does not take yet (models/lenet.nn: conv2d)
        # is skipped, after checking that nnc refuses it in one line
        if grep -q "is not supported by --emit library yet" "$E/log/$m.emit" && [ "$(wc -l <"$E/log/$m.emit")" -eq 1 ]; then
            echo "skip $m: nnc --emit library refuses it in one line:$(cut -d: -f4- "$E/log/$m.emit")"
        else
            bad "$m: nnc failed:"; sed 's/^/     /' "$E/log/$m.emit"
        fi
        continue
    fi
    case " $SMALL " in *" $m "*) small=1 ;; *) small=0 ;; esac
    if ! sizes=$(size_of $m "$STRICT"); then
        bad "$m: the library does not compile with arm-none-eabi-gcc $M4 $STRICT:"
        head -8 "$E/log/$m.m4" | sed 's/^/     /'
        continue
    fi
    set -- $sizes
    extra=$(check_symbols $m)
    if [ -n "$extra" ]; then
        bad "$m: the library object calls$extra (allowed:$ALLOWED)"
        continue
    fi
    if [ $small -eq 0 ]; then
        ok "$m: compiles for Cortex-M4 ($STRICT), text $1 B, bss $3 B"
        continue
    fi
    ram=$(($(macro $m PARAM_BYTES) + $(macro $m GRAD_BYTES) + $(macro $m STATE_BYTES) + $(macro $m BATCH_BYTES) +
           $(macro $m ARENA_BYTES) + $(macro $m CONTROL_BYTES)))
    if [ "$2" -eq 0 ] && [ "$3" -eq "$ram" ]; then
        ok "$m: Cortex-M4 -Os text $1 data $2 bss $3 = $(upper $m)_RAM_BYTES"
    else
        bad "$m: Cortex-M4 -Os text $1 data $2 bss $3, want data 0 and bss = $(upper $m)_RAM_BYTES = $ram"
    fi
done

# ---- the training data, as C arrays ------------------------------------------------------
cc -std=c99 -O2 -Iruntime -o $E/gen_data tests/embedded/gen_data.c $("$NNC" --libs) 2>$E/log/gen_data ||
    { bad "tests/embedded/gen_data.c does not build:"; sed 's/^/     /' $E/log/gen_data; }

# data NAME: $E/data_NAME.h from the host program's data source
data() {
    lab=class
    [ "$(field $1 label_kind)" = NNRT_LABEL_FLOAT ] && lab=float
    set -- $1 "$(field $1 in_dim)" $lab "$(field $1 label_dim)"
    case $(field $1 data.kind) in
    NNRT_SRC_SPIRAL) set -- "$@" spiral "$(field $1 data.classes)" "$(field $1 data.points)" "$(field $1 data.seed)" ;;
    NNRT_SRC_XOR) set -- "$@" xor ;;
    NNRT_SRC_GATE) set -- "$@" gate "$(field $1 data.gate)" ;;
    NNRT_SRC_CSV) k=$(field $1 classes) v=$(field $1 in_ids)   # absent: 0 (float labels, float inputs)
        set -- "$@" csv "$(field $1 data.csv_path)" "$(field $1 data.csv_label)" "$(field $1 data.csv_header)" \
            "${k:-0}" "${v:-0}" ;;
    *) echo "$1: data source $(field $1 data.kind) is not built in (spiral, xor, gate, csv)" >$E/log/$1.data; return 1 ;;
    esac
    $E/gen_data "$@" >"$E/data_$1.h" 2>$E/log/$1.data
}

# defs NAME: the driver's -D flags (the train block's figures, as the host program has them)
defs() {
    printf '%s' "-DMODEL=$1 -DMODEL_UP=$(upper $1) -DMODEL_H='\"$1.h\"' -DDATA_H='\"data_$1.h\"'"
    printf ' %s' "-DEPOCHS=$(field $1 epochs) -DSHUFFLE=$(field $1 shuffle) -DSEED=$(field $1 seed)"
    printf ' %s' "-DDROP_LAST=$(field $1 drop_last)"
}
DRIVER="tests/embedded/train_main.c runtime/rng.c"

# bare_build NAME OUT [FLAGS]: the bare-metal image of NAME's driver
bare_build() {
    eval arm-none-eabi-gcc $M4 $RUNFLAGS $3 --specs=rdimon.specs -nostartfiles -T tests/embedded/mps2_an386.ld \
        -I$E -Iruntime $(defs $1) -o $2 tests/embedded/startup_m4.S $DRIVER $E/$1.c -lm 2>$E/log/$1.elf.cc
}

# ---- 2. run (a): qemu-arm against x86, and the host program ----------------------------------
for m in $SMALL; do
    [ -f "$E/$m.c" ] || continue
    if [ "$(field $m decay)" != NNRT_DECAY_NONE ]; then
        bad "$m: the driver has no learning-rate decay; the train block asks for $(field $m decay)"; continue
    fi
    if ! data $m; then
        bad "$m: no training data:"; sed 's/^/     /' $E/log/$m.data; continue
    fi
    D=$(defs $m)
    if ! eval cc $RUNFLAGS -I$E -Iruntime $D -o $E/${m}_x86 $DRIVER $E/$m.c -lm 2>$E/log/$m.x86.cc; then
        bad "$m: the x86 driver does not build:"; head -20 $E/log/$m.x86.cc | sed 's/^/     /'; continue
    fi
    if ! eval arm-linux-gnueabihf-gcc -static $RUNFLAGS -I$E -Iruntime $D -o $E/${m}_arm $DRIVER $E/$m.c -lm \
        2>$E/log/$m.arm.cc; then
        bad "$m: the arm-linux-gnueabihf driver does not build:"; head -20 $E/log/$m.arm.cc | sed 's/^/     /'; continue
    fi
    $E/${m}_x86 >$E/$m.x86.out 2>&1 || { bad "$m: x86 run failed (exit $?)"; continue; }
    qemu-arm $E/${m}_arm >$E/$m.arm.out 2>&1 || { bad "$m: qemu-arm run failed (exit $?)"; continue; }
    steps=$(sed -n 's/^steps \([0-9]*\) .*/\1/p' $E/$m.x86.out)
    final=$(sed -n 's/^final //p' $E/$m.x86.out)
    if cmp -s $E/$m.x86.out $E/$m.arm.out; then
        ok "$m: qemu-arm = x86 bit for bit over $steps steps ($final)"
    else
        bad "$m: qemu-arm and x86 differ:"; diff $E/$m.x86.out $E/$m.arm.out | head -6 | sed 's/^/     /'
        continue
    fi
    # the host program: nnc's x86 trainer with libnnrt, as make demo runs it
    if cc -std=c99 -O2 $("$NNC" --cflags) -o $E/${m}_prog $E/${m}_prog.c $("$NNC" --libs) 2>$E/log/$m.prog.cc &&
        $E/${m}_prog --quiet >$E/$m.prog.out 2>&1; then
        host=$(sed -n 's/.*| acc \([0-9.]*\).*/\1/p' $E/$m.prog.out | tail -1)
        lib=$(sed -n 's/^final .* acc \([0-9.]*\)/\1/p' $E/$m.x86.out)
        if awk -v a="$lib" -v b="$host" -v t=$ACC_TOL 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; then
            ok "$m: final accuracy $lib on ARM, host program $host (within $ACC_TOL)"
        else
            bad "$m: final accuracy $lib on ARM, host program $host: more than $ACC_TOL apart"
        fi
    else
        bad "$m: the host program failed:"; cat $E/log/$m.prog.cc $E/$m.prog.out 2>/dev/null | head -5 | sed 's/^/     /'
    fi
done

# ---- 3. run (b): bare metal on QEMU's mps2-an386 (Cortex-M4F) -------------------------------
for m in $BARE_MODELS; do
    [ -f $E/$m.x86.out ] && [ -f $E/data_$m.h ] || { bad "$m: no x86 run to compare the bare-metal run with"; continue; }
    if ! bare_build $m $E/$m.elf; then
        bad "$m: the bare-metal image does not build:"; head -20 $E/log/$m.elf.cc | sed 's/^/     /'; continue
    fi
    timeout 300 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel $E/$m.elf >$E/$m.m4.out 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        bad "$m: the mps2-an386 run stopped with status $rc (124: timed out, 1: a fault):"
        tail -3 $E/$m.m4.out | sed 's/^/     /'
    elif cmp -s $E/$m.x86.out $E/$m.m4.out; then
        ok "$m: mps2-an386 (Cortex-M4F, bare metal) = x86 bit for bit: $(grep '^final' $E/$m.m4.out)"
    else
        bad "$m: mps2-an386 and x86 differ:"; diff $E/$m.x86.out $E/$m.m4.out | head -6 | sed 's/^/     /'
    fi
done

if [ -f $E/data_xor.h ]; then
    if bare_build xor $E/xor_nofpu.elf -DNO_FPU_ENABLE; then
        timeout 60 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel $E/xor_nofpu.elf >$E/xor_nofpu.out 2>&1
        rc=$?
        if [ $rc -eq 1 ] && [ ! -s $E/xor_nofpu.out ]; then
            ok "xor: with the FPU left off (no CPACR write) the image faults before any output (status 1)"
        else
            bad "xor: with the FPU left off the image should fault at once; status $rc, $(wc -l <$E/xor_nofpu.out) lines"
        fi
    else
        bad "xor: the image without the FPU enable does not build:"; head -8 $E/log/xor.elf.cc | sed 's/^/     /'
    fi
fi

echo "run_embedded: $pass passed, $fail failed"
[ $fail -eq 0 ]
