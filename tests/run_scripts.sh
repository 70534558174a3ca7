#!/bin/sh
# run_scripts.sh SCRIPT...: make test's script tier, two scripts at a time.
#
# Most tests/run_*.sh work one process after another, so on a machine with
# two cores one script alone leaves a core idle; the suite runs in lanes
# instead: NNC_TEST_JOBS scripts at once (default: the number of cores, at
# least 2).  Each script's output goes to build/test-logs/NAME.log; a line
# "done NAME: ok (N s)" is printed as each one ends, then every log in full,
# in the order given, so the transcript reads as if they had run one by
# one.  The longest scripts start first so that the lanes end together.
# Exit 1 if any script failed; the failures are named again at the end.
#
# The scripts keep out of each other's way: each works in its own folder
# under build/ (or a mktemp one) and reads build/nnc and build/libnnrt.a,
# which make has built before this runs.
#
#   sh tests/run_scripts.sh tests/run_*.sh
#   NNC_TEST_JOBS=1 sh tests/run_scripts.sh tests/run_*.sh     one at a time
set -u
cd "$(dirname "$0")/.." || exit 1
LOGS=build/test-logs

if [ "${1:-}" = --one ]; then              # one lane's job: run $2, log it
    name=$(basename "$2" .sh)
    t0=$(date +%s)
    sh "$2" >"$LOGS/$name.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    if [ $rc -eq 0 ]; then
        echo "done $name: ok ($secs s)"
    else
        echo "done $name: FAIL, exit $rc ($secs s)"
        echo "$2" >"$LOGS/$name.failed"
    fi
    exit 0
fi

# This script is itself a tests/run_*.sh: drop it from the list.
for s in "$@"; do
    shift
    [ "$(basename "$s")" = run_scripts.sh ] || set -- "$@" "$s"
done
[ $# -gt 0 ] || { echo "usage: sh tests/run_scripts.sh SCRIPT..." >&2; exit 2; }
jobs=${NNC_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
case $jobs in '' | *[!0-9]* | 0) echo "run_scripts: NNC_TEST_JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;; esac
[ "$jobs" -lt 2 ] && [ -z "${NNC_TEST_JOBS:-}" ] && jobs=2
rm -rf "$LOGS" && mkdir -p "$LOGS" || exit 1

# The longest first (measured: the CUDA builds, the end-to-end runs, the
# fuzzers, the emulated microcontroller, the trained models), then the rest.
LONG="run_cuda_build run_e2e run_libfuzzer run_fuzz run_embedded run_accuracy run_mpi run_plot"
order() {
    for l in $LONG; do
        for s in "$@"; do [ "$(basename "$s" .sh)" = "$l" ] && echo "$s"; done
    done
    for s in "$@"; do
        case " $LONG " in *" $(basename "$s" .sh) "*) ;; *) echo "$s" ;; esac
    done
}

t0=$(date +%s)
echo "run_scripts: $# scripts, $jobs at a time; logs in $LOGS/"
order "$@" | xargs -P "$jobs" -n 1 sh tests/run_scripts.sh --one
for s in "$@"; do
    echo "== $s"
    cat "$LOGS/$(basename "$s" .sh).log"
done
failed=$(cat "$LOGS"/*.failed 2>/dev/null | tr '\n' ' ')
echo "run_scripts: $# scripts in $(($(date +%s) - t0)) s"
if [ -n "$failed" ]; then
    echo "run_scripts: FAILED: $failed(logs in $LOGS/)"
    exit 1
fi
