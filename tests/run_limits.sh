#!/bin/sh
# tests/run_limits.sh: the static storage limit (graph.h: 2080374784 bytes,
# docs/language.md "Sizes") seen from both sides, through whole compiles
# (tests/run_err.sh covers what `nnc --check` refuses):
#
#   1. tests/limits/near.nn, 5 MB under the limit, builds into a program:
#      what nnc accepts, cc compiles and links (sizes fit an int, the .bss
#      fits the 2 GiB code model).
#   2. tests/limits/arena.nn, whose planned arena passes the limit, is
#      refused after planning: exit 1, one error at the largest value's
#      line (FILE:LINE:COL), with the total in bytes; `nnc -o` writes no
#      file.  --check, which stops before planning, accepts it.
#
# Run from the repository root after `make` (make test does both).
# Exit 0 when all hold, 1 otherwise.
NNC=build/nnc
DIR=tests/limits
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ]; then
    echo "FAIL $NNC is missing: run make first"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnc-run-limits.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# 1. just under the limit: built and linked
if "$NNC" "$DIR/near.nn" -o "$tmp/near" 2>"$tmp/near.err" && [ -x "$tmp/near" ]; then
    ok "near.nn (5 MB under the limit) builds into a program"
else
    bad "near.nn did not build:"; cat "$tmp/near.err"
fi

# 2. the arena over the limit: refused after planning, nothing written
"$NNC" "$DIR/arena.nn" -o "$tmp/wide.c" 2>"$tmp/arena.err"
rc=$?
if [ $rc -eq 1 ] && [ ! -e "$tmp/wide.c" ] && [ "$(wc -l <"$tmp/arena.err")" -eq 3 ] &&
   grep -q "^$DIR/arena.nn:10:5: error: the planned static storage takes [0-9]* bytes (.*), more than the 2080374784 bytes a model may take; the largest value is 'h_matmul' \[B, 300000\] (1200000000 bytes)" "$tmp/arena.err"; then
    ok "arena.nn refused after planning at line 10"
else
    bad "arena.nn: exit $rc, expected 1 and the error at 10:5:"; cat "$tmp/arena.err"
fi
if "$NNC" --check "$DIR/arena.nn" 2>"$tmp/check.err"; then
    ok "arena.nn passes --check (the arena is known only after planning)"
else
    bad "arena.nn: --check refused it:"; cat "$tmp/check.err"
fi

echo "limits: $pass ok, $fail failed"
[ $fail -eq 0 ]
