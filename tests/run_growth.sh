#!/bin/sh
# tests/run_growth.sh: the compiler stays near-linear in the size of a model.
#
#   1. scripts/growth.sh on a 20,000-layer MLP (one long mlp(...) call):
#      compiled to C within 6 x the report's 5 s (GROWTH_SLACK=6: other
#      tests share the machine) and 500 MB.  Quadratic planning, poison
#      lists, C naming or epilogue lookups took minutes and gigabytes here.
#   2. `nnc --check` of a 40,000-layer MLP within 5 s (sema's naming of a
#      value's parts was quadratic: over 10 s).
#   3. a 16,000-line model of residual layers (a = dense(h); h = a + h: every
#      value read twice, so autodiff adds branch gradients, and a .nn line
#      per value) compiled within 30 s (naming the branch gradients and
#      finding each step's source line were quadratic).
#
# Run from the repository root after `make` (make test does both).
# Exit 0 when all hold, 1 otherwise.
NNC=build/nnc
pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

if [ ! -x "$NNC" ]; then
    echo "FAIL $NNC is missing: run make first"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnc-run-growth.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Runs "$@" with a limit of $1 seconds; 0 when it finished in time and succeeded.
within() {
    limit=$1
    shift
    timeout "$limit" "$@" >"$tmp/out" 2>&1
}

# ---- 1. a 20,000-layer MLP ---------------------------------------------------
if GROWTH_SLACK=6 sh scripts/growth.sh "$NNC" 20000 >"$tmp/growth" 2>&1; then
    ok "growth: $(tail -n 1 "$tmp/growth" | sed 's/  */ /g')"
else
    bad "growth: a 20,000-layer MLP missed its limits:"
    sed 's/^/     /' "$tmp/growth"
fi

# ---- 2. --check of a 40,000-layer MLP ----------------------------------------
awk 'BEGIN { print "model deep;"; print "input x: f32[B, 2];"; print "label t: i32[B];"
             printf "h = mlp(x, ["; for (i = 1; i < 40000; i++) printf "4, "; print "4]);"
             print "loss = softmax_cross_entropy(h, t);"; print "minimize loss;" }' >"$tmp/check.nn"
if within 5 "$NNC" --check "$tmp/check.nn"; then
    ok "check: a 40,000-layer mlp(...) passes --check within 5 s"
else
    bad "check: nnc --check of a 40,000-layer mlp(...) failed or took over 5 s:"
    sed 's/^/     /' "$tmp/out" | head -n 5
fi

# ---- 3. 16,000 residual layers, one line each --------------------------------
awk 'BEGIN { print "model resid;"; print "input x: f32[B, 2];"; print "label t: i32[B];"
             print "h0 = dense(x, 4, act=tanh);"
             for (i = 1; i < 8000; i++) {
                 printf "a%d = dense(h%d, 4, act=tanh);\n", i, i - 1
                 printf "h%d = a%d + h%d;\n", i, i, i - 1 }
             print "loss = softmax_cross_entropy(h7999, t);"; print "minimize loss;"
             print "train { data = spiral(classes=4, points=10, seed=1); optimizer = momentum(lr=0.1, momentum=0.9); epochs = 1; batch = 8; }" }' \
    >"$tmp/resid.nn"
if within 30 "$NNC" "$tmp/resid.nn" -o "$tmp/resid.c"; then
    ok "resid: 16,000 lines of residual layers compile to C within 30 s"
else
    bad "resid: nnc on 16,000 lines of residual layers failed or took over 30 s:"
    sed 's/^/     /' "$tmp/out" | head -n 5
fi

echo "run_growth: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
