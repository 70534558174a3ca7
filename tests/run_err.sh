#!/bin/sh
# run_err.sh: the error corpus.  Every tests/err/NAME.nn is checked with
# `build/nnc --check tests/err/NAME.nn`; its stderr must equal
# tests/err/NAME.err (compared with diff -u) and it must exit 1, or exit 0
# when its first line is `# expect: exit 0` (a model with warnings only).
# A .nn without its .err, or an .err without its .nn, is a failure too.
#
#   sh tests/run_err.sh            from the repository root (make test does)
#   sh tests/run_err.sh --update   rewrite every .err from nnc's output (then
#                                  read the diff before committing it)
set -u
cd "$(dirname "$0")/.." || exit 1

NNC=build/nnc
DIR=tests/err
[ -x "$NNC" ] || { echo "run_err: $NNC is missing (run make first)" >&2; exit 1; }

UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

total=0 ok=0 failed=0
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

for err in "$DIR"/*.err; do
    [ -e "$err" ] || continue
    [ -f "${err%.err}.nn" ] || fail "$err" "no ${err%.err}.nn for it"
done

for nn in "$DIR"/*.nn; do
    [ -e "$nn" ] || continue
    total=$((total + 1))
    err=${nn%.nn}.err
    want=1
    head -n 1 "$nn" | grep -q '^# expect: exit 0' && want=0
    "$NNC" --check "$nn" >/dev/null 2>"$TMP/stderr"
    rc=$?
    if [ $UPDATE = 1 ]; then
        cp "$TMP/stderr" "$err"
    fi
    if [ ! -f "$err" ]; then
        fail "$nn" "no $err (its expected stderr)"
        continue
    fi
    bad=0
    if [ $rc -ne $want ]; then
        fail "$nn" "exit status $rc, expected $want"
        bad=1
    fi
    if ! diff -u "$err" "$TMP/stderr" >"$TMP/diff"; then
        fail "$nn" "stderr differs from $err:"
        cat "$TMP/diff"
        bad=1
    fi
    [ $bad = 0 ] && ok=$((ok + 1))
done

echo "err corpus: $total files, $ok ok"
[ $failed = 0 ] && [ $ok = $total ]
