#!/bin/sh
# run_fuzz.sh: the front end under AddressSanitizer and UBSan.
#
# Builds into build/asan/ a sanitized copy of the scanner, the parser and
# every compiler/*.c (only what changed since the last run), linked into
# tests/fuzz/parse_main.c (parse, dump the tree, exit 0 or 1) and, when
# compiler/main.c builds, into nnc itself (run as `nnc --check`).  Runs
# both over every models/*.nn, every tests/err/*.nn and the inputs that
# tests/fuzz/mutate.c writes: a few hundred deterministic mutations of the
# models and the edge cases (a 10 MB line, 10,000 nested parentheses,
# overlong numbers, unterminated strings and comments, NUL bytes...).
#
# parse_main takes all inputs in one process (an ASan start costs ~50 ms);
# if that run fails, each input is run alone to name the culprit.  nnc runs
# once per input (timeout 10 s each), spread over the machine's cores.
#
# Fails (exit 1) on any sanitizer report or leak, a crash, an exit status
# other than 0 or 1, or a timeout; prints one line per failure and a tally.
#   sh tests/run_fuzz.sh [COUNT]      COUNT mutations (default 200)
set -u
cd "$(dirname "$0")/.." || exit 1

COUNT=${1:-200}
CC=${CC:-cc}
OUT=build/asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
CFLAGS="-std=c99 -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -I$OUT/grammar -w $SAN"
JOBS=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=detect_leaks=1:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87

for tool in flex bison timeout; do
    command -v $tool >/dev/null 2>&1 || { echo "run_fuzz: $tool is missing" >&2; exit 1; }
done
mkdir -p $OUT/grammar $OUT/compiler $OUT/inputs $OUT/logs || exit 1

# ---- build (only what is older than its sources or any header) -------------
# stale OBJ SRC...: OBJ is missing or older than a SRC or a header.
stale() {
    obj=$1; shift
    [ -f "$obj" ] || return 0
    for dep in "$@" compiler/*.h; do
        [ "$dep" -nt "$obj" ] && return 0
    done
    return 1
}

# compile SRC OBJ: compile one file with the sanitizers.
compile() {
    rm -f "$2"
    $CC $CFLAGS -DNNC_PREFIX='"/usr/local"' -DNNC_BLAS_LIBS='""' -c -o "$2" "$1" 2>"$2.log" ||
        { echo "run_fuzz: cannot compile $1:" >&2; head -20 "$2.log" >&2; rm -f "$2"; }
}

build() {
    if stale $OUT/grammar/nn.tab.h grammar/nn.y; then
        bison -Wall -o $OUT/grammar/nn.tab.c --defines=$OUT/grammar/nn.tab.h grammar/nn.y || return 1
    fi
    if stale $OUT/grammar/lex.yy.c grammar/nn.l $OUT/grammar/nn.tab.h; then
        flex -o $OUT/grammar/lex.yy.c --header-file=$OUT/grammar/lex.yy.h grammar/nn.l || return 1
    fi
    objs=""
    for src in $OUT/grammar/nn.tab.c $OUT/grammar/lex.yy.c compiler/*.c; do
        [ "$src" = compiler/main.c ] && continue
        obj=${src%.c}.o
        case $src in compiler/*) obj=$OUT/compiler/$(basename "$src" .c).o ;; esac
        objs="$objs $obj"
        gen=""  # the generated headers, for the files that include them
        grep -q -e nn.tab.h -e lex.yy.h "$src" && gen="$OUT/grammar/nn.tab.h $OUT/grammar/lex.yy.h"
        if stale "$obj" "$src" $gen; then compile "$src" "$obj" & fi
    done
    wait
    for o in $objs; do [ -f "$o" ] || return 1; done
    $CC $CFLAGS -o $OUT/parse_main tests/fuzz/parse_main.c $objs -lm || return 1
    $CC -std=c99 -O2 -o $OUT/mutate tests/fuzz/mutate.c || return 1
    rm -f $OUT/nnc
    [ -f compiler/main.c ] || return 0
    if stale $OUT/compiler/main.o compiler/main.c; then
        compile compiler/main.c $OUT/compiler/main.o 2>/dev/null
    fi
    if [ ! -f $OUT/compiler/main.o ] ||
       ! $CC $CFLAGS -o $OUT/nnc $objs $OUT/compiler/main.o -lm 2>$OUT/nnc.log; then
        echo "run_fuzz: nnc does not build yet; fuzzing the parser alone"
        rm -f $OUT/nnc
    fi
}
build || { echo "run_fuzz: build failed" >&2; exit 1; }

# ---- inputs -----------------------------------------------------------------
rm -f $OUT/inputs/*.nn $OUT/logs/*
$OUT/mutate $OUT/inputs "$COUNT" models/*.nn || exit 1
ls models/*.nn tests/err/*.nn $OUT/inputs/*.nn 2>/dev/null > $OUT/logs/inputs

# ---- run --------------------------------------------------------------------
# verdict RC LOG: why a run failed, or nothing if it did not.
verdict() {
    case $1 in
    0|1) grep -q -e 'runtime error:' -e 'Sanitizer' "$2" && echo "sanitizer report" ;;
    124) echo "timed out (10 s)" ;;
    86) echo "AddressSanitizer or leak report" ;;
    87) echo "undefined behaviour" ;;
    *) echo "exit status $1" ;;
    esac
}

# run_one NAME FILE CMD...: run CMD FILE; print a FAIL line if it failed.
run_one() {
    name=$1; file=$2; shift 2
    log=$OUT/logs/$(basename "$file").$name.log
    timeout 10 "$@" "$file" >/dev/null 2>"$log"
    why=$(verdict $? "$log")
    [ -z "$why" ] && return 0
    echo "run_fuzz: FAIL $name $file: $why (log: $log)"
    grep -m 3 -e 'ERROR' -e 'runtime error' -e 'SUMMARY' "$log" | sed 's/^/    /'
}

# shard K: nnc --check over every JOBS-th input, from the K-th.
shard() {
    awk -v k="$1" -v n="$JOBS" 'NR % n == k' $OUT/logs/inputs | while read -r f; do
        run_one nnc "$f" $OUT/nnc --check
    done > $OUT/logs/shard$1.fail
}

inputs=$(wc -l < $OUT/logs/inputs)
runs=0
if [ -x $OUT/nnc ]; then
    k=0
    while [ $k -lt "$JOBS" ]; do shard $k & k=$((k + 1)); done
    runs=$inputs
fi
# all inputs through parse_main at once, then one by one if that failed
timeout 120 $OUT/parse_main $(cat $OUT/logs/inputs) >/dev/null 2>$OUT/logs/parse_all.log
why=$(verdict $? $OUT/logs/parse_all.log)
if [ -n "$why" ]; then
    echo "run_fuzz: the parse of all inputs failed ($why); running them one by one"
    while read -r f; do run_one parse "$f" $OUT/parse_main; done < $OUT/logs/inputs \
        > $OUT/logs/parse.fail
    [ -s $OUT/logs/parse.fail ] || echo "run_fuzz: FAIL parse_main: $why only with all inputs" \
        > $OUT/logs/parse.fail
fi
runs=$((runs + inputs))
wait

cat $OUT/logs/*.fail 2>/dev/null
failures=$(cat $OUT/logs/*.fail 2>/dev/null | grep -c '^run_fuzz: FAIL')
programs="parse_main"
[ -x $OUT/nnc ] && programs="parse_main and nnc --check"
echo "run_fuzz: $inputs inputs, $runs runs ($programs), $failures failures"
[ "$failures" -eq 0 ]
