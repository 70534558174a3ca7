#!/bin/sh
# tests/run_flags.sh: `nnc --cflags` and `nnc --libs` as a user types them.
#
# The shell does not remove quotes from the output of $(...); it splits it
# at blanks and expands * ? [.  So the flags must be bare words:
#   1. cc $(nnc --cflags) M.c $(nnc --libs) builds an and-gate trainer that
#      runs and learns the gate;
#   2. --target cuda: every word of --libs that is not an option names a
#      file or folder that exists, and nvcc -c compiles the emitted .cu with
#      $(nnc --target cuda --cflags), and nnc --target cuda -o NAME builds
#      NAME and keeps its source NAME.cu beside it (where nvcc exists, else
#      one "skip" line);
#   3. an nnc whose runtime lies under a path with a space refuses --cflags
#      and --libs (exit 1, one line naming the path, nothing on stdout),
#      and still builds a trainer with -o, quoting the paths itself.
# Run from the repository root after `make`; NNC=path tests another nnc.
NNC=${NNC:-build/nnc}
W=build/flags.$$
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ] || [ ! -f build/libnnrt.a ]; then
    echo "FAIL $NNC or build/libnnrt.a is missing: run make first"
    exit 1
fi
rm -rf "$W"
mkdir -p "$W" || exit 1

# ---- 1. the CPU flags ---------------------------------------------------------
"$NNC" models/and.nn -o "$W/and.c" || bad "nnc -o and.c"
# shellcheck disable=SC2046 # the words must split, as a user's command does
if cc -std=c99 -O2 -o "$W/and" $("$NNC" --cflags) "$W/and.c" $("$NNC" --libs) 2>"$W/cc.err"; then
    case "$("$W/and" --quiet)" in
    *"acc 1.0000"*) ok "cc \$(nnc --cflags) and.c \$(nnc --libs): the trainer learns AND" ;;
    *) bad "the trainer built with \$(nnc --cflags) \$(nnc --libs) did not learn AND" ;;
    esac
else
    bad "cc \$(nnc --cflags) and.c \$(nnc --libs) failed: $(head -3 "$W/cc.err")"
fi

# ---- 2. the CUDA flags ----------------------------------------------------------
# Every path word of --libs names a file: with the nvcc found on PATH, and
# with nvcc a wrapper script in a bin/ that has no lib64 beside it (as
# /usr/local/bin/nvcc is on some machines).
mkdir -p "$W/wrap/bin"
printf '#!/bin/sh\nexit 1\n' >"$W/wrap/bin/nvcc" && chmod +x "$W/wrap/bin/nvcc"
for how in "PATH" "a wrapper nvcc"; do
    if [ "$how" = PATH ]; then words=$("$NNC" --target cuda --libs); else words=$(PATH="$W/wrap/bin:$PATH" "$NNC" --target cuda --libs); fi
    missing=
    for w in $words; do
        case "$w" in -*) ;; *) [ -e "$w" ] || missing="$missing $w" ;; esac
    done
    if [ -z "$missing" ]; then
        ok "nnc --target cuda --libs (nvcc from $how): every path word names a file"
    else
        bad "nnc --target cuda --libs (nvcc from $how): these words name no file:$missing"
    fi
done

NVCC=${NVCC:-$(command -v nvcc 2>/dev/null)}
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
    echo "skip nvcc \$(nnc --target cuda --cflags): nvcc not found (PATH, /usr/local/cuda/bin)"
else
    "$NNC" --target cuda models/and.nn -o "$W/and.cu" || bad "nnc --target cuda -o and.cu"
    if "$NVCC" -std=c++17 -arch="${NNC_CUDA_ARCH:-sm_90}" -c -o "$W/and.o" "$W/and.cu" \
        $("$NNC" --target cuda --cflags) 2>"$W/nvcc.err"; then
        ok "nvcc -c and.cu \$(nnc --target cuda --cflags) compiles"
    else
        bad "nvcc -c and.cu \$(nnc --target cuda --cflags) failed: $(head -3 "$W/nvcc.err")"
    fi
    mkdir -p "$W/cu"
    if "$NNC" --target cuda models/and.nn -o "$W/cu/and" 2>"$W/nvcc.err" &&
        [ "$(ls "$W/cu" | tr '\n' ' ')" = "and and.cu " ]; then
        ok "nnc --target cuda -o and: the program and its source and.cu beside it"
    else
        bad "nnc --target cuda -o and: the folder holds '$(ls "$W/cu" | tr '\n' ' ')': $(head -3 "$W/nvcc.err")"
    fi
fi

# ---- 3. a runtime under a path with a space ---------------------------------------
S="$W/with space"
mkdir -p "$S/build" "$S/runtime" || exit 1
cp "$NNC" build/libnnrt.a "$S/build/" && cp runtime/*.h "$S/runtime/" || exit 1
for f in --cflags --libs; do
    out=$("$S/build/nnc" "$f" 2>"$W/space.err")
    rc=$?
    if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(wc -l <"$W/space.err")" -eq 1 ] &&
        grep -q "holds a space" "$W/space.err"; then
        ok "nnc $f under a path with a space: exit 1, $(cat "$W/space.err")"
    else
        bad "nnc $f under a path with a space: exit $rc, stdout '$out', stderr '$(cat "$W/space.err")'"
    fi
done
if "$S/build/nnc" models/and.nn -o "$S/and" 2>"$W/build.err" && "$S/and" --quiet >/dev/null; then
    ok "nnc -o under a path with a space builds a trainer that runs"
else
    bad "nnc -o under a path with a space: $(head -3 "$W/build.err")"
fi

rm -rf "$W"
echo "flags: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
