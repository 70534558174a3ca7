#!/bin/sh
# tests/run_generated.sh: generated/ is what the compiler writes today, and
# every emitted file builds cleanly under the strictest flags.
#
#   1. every models/NAME.nn is compiled again into build/regen/NAME.c and
#      compared with generated/NAME.c (diff -u); a difference means the
#      committed file is stale: "generated/NAME.c is out of date: run make
#      regen".  The header names only the output's file name, so the two
#      compare byte for byte.  The same for library mode:
#      generated/lib/twolayer.c, topics.c and their headers (--emit library), and the
#      CUDA target's source for one model: generated/twolayer.cu (nnc
#      --target cuda -o NAME.cu writes it without nvcc).
#   2. the C programs carry no noise: no "(void)x;" in a function that uses
#      x, and the dropout generator only in models with dropout.
#   3. every generated/NAME.c compiles with gcc and with clang under
#      -std=c99 -Wall -Wextra -Werror -pedantic (clang is skipped, with a
#      visible line, where it is not installed).
#
# Run from the repository root after `make` (make test does both).
# Exit 0 when all hold, 1 otherwise.
NNC=build/nnc
OUT=build/regen
STRICT="-std=c99 -Wall -Wextra -Werror -pedantic -Iruntime -c"
pass=0
fail=0

ok()   { pass=$((pass + 1)); echo "ok   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ]; then
    echo "FAIL $NNC is missing: run make first"
    exit 1
fi
mkdir -p "$OUT"

# ---- 1. generated/ against the compiler ------------------------------------
for m in models/*.nn; do
    name=$(basename "$m" .nn)
    if ! "$NNC" "$m" -o "$OUT/$name.c" 2>"$OUT/$name.err"; then
        bad "regen $name: nnc failed:"
        sed 's/^/     /' "$OUT/$name.err"
        continue
    fi
    if [ ! -f "generated/$name.c" ]; then
        bad "generated/$name.c is missing: run make regen"
    elif diff -u "generated/$name.c" "$OUT/$name.c" >"$OUT/$name.diff"; then
        ok "regen $name: generated/$name.c matches the compiler"
    else
        bad "generated/$name.c is out of date: run make regen"
        head -40 "$OUT/$name.diff" | sed 's/^/     /'
    fi
done
# Library mode: generated/lib/M.c and its header M.h for twolayer (float
# inputs) and topics (token ids), as make regen writes them.
mkdir -p "$OUT/lib"
for name in twolayer topics; do
    if ! "$NNC" "models/$name.nn" --emit library -o "$OUT/lib/$name.c" 2>"$OUT/lib.err"; then
        bad "regen lib/$name: nnc --emit library failed: $(head -1 "$OUT/lib.err")"
        continue
    fi
    for f in $name.c $name.h; do
        if [ ! -f "generated/lib/$f" ]; then
            bad "generated/lib/$f is missing: run make regen"
        elif diff -u "generated/lib/$f" "$OUT/lib/$f" >"$OUT/lib.diff"; then
            ok "regen lib/$f: generated/lib/$f matches the compiler"
        else
            bad "generated/lib/$f is out of date: run make regen"
            head -40 "$OUT/lib.diff" | sed 's/^/     /'
        fi
    done
done
# The CUDA target: generated/twolayer.cu (its builds are run_cuda_build.sh's).
if ! "$NNC" models/twolayer.nn --target cuda -o "$OUT/twolayer.cu" 2>"$OUT/cu.err"; then
    bad "regen twolayer.cu: nnc --target cuda failed: $(head -1 "$OUT/cu.err")"
elif [ ! -f generated/twolayer.cu ]; then
    bad "generated/twolayer.cu is missing: run make regen"
elif diff -u generated/twolayer.cu "$OUT/twolayer.cu" >"$OUT/cu.diff"; then
    ok "regen twolayer.cu: generated/twolayer.cu matches the compiler"
else
    bad "generated/twolayer.cu is out of date: run make regen"
    head -40 "$OUT/cu.diff" | sed 's/^/     /'
fi
# A generated file whose model is gone is stale too.
for c in generated/*.c; do
    [ -f "$c" ] || continue
    name=$(basename "$c" .c)
    [ -f "models/$name.nn" ] || bad "generated/$name.c has no models/$name.nn: remove it (make regen)"
done

# ---- 2. no noise in the C programs ----------------------------------------
# A "(void)x;" says x is unused: it must not stand in a function that
# names x elsewhere (outside comments); the dropout generator is declared
# only where a model has dropout.
unused_lint() {
    awk '
        /^[A-Za-z].*\)$/ { fn = $0 }
        /^{$/ { body = ""; n = 0; infn = 1; next }
        /^}$/ && infn {
            gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, "", body)
            for (k = 1; k <= n; k++)
                if (body ~ ("(^|[^A-Za-z0-9_])" v[k] "([^A-Za-z0-9_]|$)"))
                    print fn ": (void)" v[k] "; but the function uses " v[k]
            infn = 0
            next
        }
        infn && /^    \(void\)[A-Za-z_][A-Za-z0-9_]*;/ { x = $0; sub(/^    \(void\)/, "", x); sub(/;.*/, "", x); v[++n] = x; next }
        infn { body = body "\n" $0 }
    ' "$1"
}
for c in generated/*.c generated/lib/*.c; do
    [ -f "$c" ] || continue
    noise=$(unused_lint "$c")
    if [ -n "$noise" ]; then
        bad "$c: a (void) for a name in use:"
        echo "$noise" | head -5 | sed 's/^/     /'
    else
        ok "$c: every (void)x names an unused x"
    fi
    case $c in generated/lib/*) continue ;; esac
    name=$(basename "$c" .c)
    if grep -q 'dropout(' "models/$name.nn" || grep -q 'keep=' "models/$name.nn"; then
        want=1
    else
        want=0
    fi
    have=$(grep -c '^static NnrtRng rng;' "$c")
    if [ "$have" -eq "$want" ]; then
        ok "$c: the dropout generator only with dropout ($have)"
    else
        bad "$c: 'static NnrtRng rng;' $have times, want $want (dropout in the model: $want)"
    fi
done

# ---- 3. strict builds under gcc and clang ----------------------------------
compilers=""
for cc in gcc clang; do
    if command -v "$cc" >/dev/null 2>&1; then
        compilers="$compilers $cc"
    else
        echo "skip $cc: $cc not found, skipped"
    fi
done
for c in generated/*.c generated/lib/*.c; do
    [ -f "$c" ] || continue
    name=$(basename "$c" .c)
    case "$c" in generated/lib/*) name=lib_$name ;; esac
    for cc in $compilers; do
        if $cc $STRICT -I"$(dirname "$c")" -o "$OUT/$name.$cc.o" "$c" 2>"$OUT/$name.$cc.err"; then
            ok "$cc $name: builds with $STRICT"
        else
            bad "$cc $name: does not build with $STRICT:"
            head -20 "$OUT/$name.$cc.err" | sed 's/^/     /'
        fi
    done
done

echo "run_generated: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
