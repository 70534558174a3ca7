#!/bin/sh
# tests/run_interrupt.sh: stopping a trainer with SIGINT or SIGTERM and
# resuming it, --save-every, a --load with nothing left, the flags' did-you-
# mean and --log-every, the progress line on a terminal against a pipe, and
# the "loading FILE..." line (tests/interrupt/check.py says what each check
# holds).  tests/interrupt/long_spiral.nn trains for a few seconds; it is
# stopped twice and resumed, and its checkpoint must equal an unbroken
# run's byte for byte.
# Run from the repository root after `make`.  Exit 0 when all hold.
NNC=${NNC:-build/nnc}
LIB=${NNRT_LIB:-build/libnnrt.a}
W=build/interrupt.$$
PY=$(command -v python3)
if [ ! -x "$NNC" ] || [ ! -f "$LIB" ]; then
    echo "FAIL $NNC or $LIB is missing: run make first"
    exit 1
fi
if [ -z "$PY" ]; then
    echo "FAIL python3 is missing (scripts/deps.sh installs it)"
    exit 1
fi
rm -rf "$W"
mkdir -p "$W" || exit 1
trap 'rm -rf "$W"; exit 130' INT TERM
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null)
[ -f build/blas.env ] && . build/blas.env   # the BLAS make built the runtime with
for m in tests/interrupt/long_spiral.nn tests/e2e/csv3.nn; do
    n=$(basename "$m" .nn)
    if ! "$NNC" "$m" -o "$W/$n.c" || ! ${CC:-cc} -std=c99 -O2 -Iruntime -o "$W/$n" "$W/$n.c" "$LIB" $BLAS_LIBS -lz -lm; then
        echo "FAIL cannot build $m"
        exit 1
    fi
done
"$PY" tests/interrupt/check.py "$(pwd)/$W/long_spiral" "$(pwd)/$W/csv3" "$W"
rc=$?
[ $rc -eq 0 ] && rm -rf "$W"
exit $rc
