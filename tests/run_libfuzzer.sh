#!/bin/sh
# run_libfuzzer.sh: the libFuzzer harnesses, a short run each.
#
#   fuzz_frontend   a .nn source through the whole compiler in one process:
#                   parse, sema, autodiff, optimize, plan, every dump and
#                   every emission (tests/fuzz/fuzz_frontend.c)
#   fuzz_runtime    the runtime's readers on hostile bytes: IDX raw and
#                   gzip, CSV, data sets, safetensors checkpoints
#                   (tests/fuzz/fuzz_runtime.c)
#
# Both are built with clang, ASan, UBSan and libFuzzer into build/fuzz/
# (make fuzz-build; scripts/deps.sh fuzz installs clang and libFuzzer as
# root, or names the packages and fails).  For each harness:
#   1. every input in tests/fuzz/regress/HARNESS/ is replayed once: inputs
#      that once failed (or that the harness must refuse) stay fixed;
#   2. the fuzzer runs FUZZ_SECONDS seconds (default 30; make fuzz: 60)
#      over the working corpus build/fuzz/corpus/HARNESS/ (kept between
#      runs, new inputs go there), seeded from tests/fuzz/corpus/HARNESS/
#      and, for the front end, every .nn under models/ and tests/, with
#      the dictionary tests/fuzz/HARNESS.dict.
# A crash, sanitizer report, leak, timeout (10 s of CPU an input) or out-of-memory
# (2 GiB, or one malloc over it) fails the run: the input is saved under
# build/fuzz/artifacts/HARNESS/ and the report's first lines are printed.
# Prints one line per harness: seconds it ran, executions, coverage (cov:
# edges, ft: features) and corpus size.  Exit 1 if anything failed.
#
#   sh tests/run_libfuzzer.sh              (or: make fuzz FUZZ_SECONDS=N)
#   FUZZ_SECONDS=600 sh tests/run_libfuzzer.sh runtime    one harness only
set -u
cd "$(dirname "$0")/.." || exit 1

SECS=${FUZZ_SECONDS:-30}
OUT=build/fuzz
HARNESSES=${*:-frontend runtime}
case $SECS in '' | *[!0-9]*) echo "run_libfuzzer: FUZZ_SECONDS must be a number of seconds, not '$SECS'" >&2; exit 2 ;; esac

sh scripts/deps.sh fuzz || { echo "run_libfuzzer: FAIL: clang and libFuzzer are needed (packages above)"; exit 1; }
mkdir -p $OUT/logs || exit 1
if ! make -s -j2 fuzz-build >$OUT/logs/build.log 2>&1; then
    echo "run_libfuzzer: FAIL: the harnesses do not build (make fuzz-build):"
    grep -m 10 -e 'error' -e 'Error' $OUT/logs/build.log | sed 's/^/    /'
    exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LIMIT=10   # seconds an input may take
FLAGS="-timeout=$LIMIT -rss_limit_mb=2048 -malloc_limit_mb=2048"
REPLAY_FLAGS="-timeout=$((LIMIT * 6)) -rss_limit_mb=2048 -malloc_limit_mb=2048"

# cpu_ms: sets CPU_MS to the CPU milliseconds (user + system) that this
# shell's finished children have used so far, from the second line of
# 'times'.  It is written to a file and read back: in a pipeline or a
# $(...) 'times' would run in a subshell, which has no children.
cpu_ms() {
    times >"$OUT/logs/times"
    CPU_MS=$(sed -n 2p "$OUT/logs/times" | awk '{
        t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
        printf "%d\n", t * 1000 }')
}
failed=0

# report LOG: the lines of a libFuzzer failure worth reading: what failed,
# the top four frames in nnc's own sources, where the input was saved.
report() {
    grep -m 6 -e 'ERROR:' -e 'runtime error' -e 'SUMMARY' -e '^fuzz_runtime:' -e 'internal error' \
        -e 'out-of-memory' -e 'timeout after' "$1" | sed 's/^/    /'
    grep -E '^ +#[0-9]+ .* in .*(compiler|runtime|grammar|tests/fuzz)/' "$1" | head -4 | sed 's/^ */      /'
    grep -m 1 'Test unit written' "$1" | sed 's/^/    /'
}

# seeds H: the seed directory of harness H (the front end's gathers every .nn).
seeds() {
    if [ "$1" = frontend ]; then
        dir=$OUT/seeds/frontend
        rm -rf "$dir" && mkdir -p "$dir" || return 1
        for f in tests/fuzz/corpus/frontend/*.nn models/*.nn tests/e2e/*.nn tests/cuda/models/*.nn tests/err/*.nn; do
            [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr / _)"
        done
        echo "$dir"
    else
        echo tests/fuzz/corpus/$1
    fi
}

for h in $HARNESSES; do
    bin=$OUT/fuzz_$h
    [ -x "$bin" ] || { echo "run_libfuzzer: FAIL: no harness $bin"; failed=1; continue; }
    case $h in frontend) maxlen=4096 ;; *) maxlen=8192 ;; esac
    mkdir -p $OUT/corpus/$h $OUT/artifacts/$h || exit 1

    # 1. the regression inputs, one process each (a failure names its input)
    nreg=0
    for f in tests/fuzz/regress/$h/*; do
        [ -f "$f" ] || continue
        nreg=$((nreg + 1))
        log=$OUT/logs/regress_$h.$(basename "$f").log
        # The limit is on CPU time (user + system, from the shell's
        # times): a replay on a busy machine may take several times
        # longer by the clock, which libFuzzer's -timeout measures, so
        # that one gets six times the room as a backstop for a hang.
        cpu_ms
        cpu0=$CPU_MS
        timeout 300 "$bin" $REPLAY_FLAGS "$f" >"$log" 2>&1
        rc=$?
        cpu_ms
        ms=$((CPU_MS - cpu0))
        if [ $rc -ne 0 ]; then
            echo "run_libfuzzer: FAIL $h: regression input $f (exit $rc, log: $log)"
            report "$log"
            failed=1
        elif [ "$ms" -gt $((LIMIT * 1000)) ]; then
            echo "run_libfuzzer: FAIL $h: regression input $f took $ms ms of CPU, over the ${LIMIT} s an input may take"
            failed=1
        fi
    done

    # 2. the fuzzer
    seed_dir=$(seeds $h) || exit 1
    log=$OUT/logs/$h.log
    start=$(date +%s)
    timeout $((SECS + 300)) "$bin" $FLAGS -max_total_time="$SECS" -max_len=$maxlen -dict=tests/fuzz/$h.dict \
        -artifact_prefix=$OUT/artifacts/$h/ -print_final_stats=1 \
        $OUT/corpus/$h "$seed_dir" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    verdict=ok
    [ $rc -ne 0 ] && verdict="FAIL (exit $rc, log: $log)"
    [ $rc -eq 124 ] && verdict="FAIL (still running 300 s after its time: a hang libFuzzer missed; log: $log)"
    echo "run_libfuzzer: fuzz_$h: ${took}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, $nreg regression inputs: $verdict"
    if [ $rc -ne 0 ]; then
        report "$log"
        echo "    reproduce: $bin ARTIFACT (the 'Test unit written' path); shrink: $bin -minimize_crash=1 -runs=10000 ARTIFACT"
        failed=1
    fi
done
exit $failed
