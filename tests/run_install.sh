#!/bin/sh
# run_install.sh: `make install` into a scratch prefix, then the installed
# nnc must find its installed runtime on its own: build and run a trainer
# with it, and build one by hand with `nnc --cflags` / `--libs` and with
# pkg-config's nnrt.pc (`--static`: libnnrt.a needs the modules its
# Requires.private names, zlib and, for a runtime built with OpenBLAS,
# openblas; one built with BLIS, which has no module, names -lblis; no
# hard-coded -L).
set -u
prefix=$(pwd)/build/install-test
rm -rf "$prefix"
fail() { echo "FAIL install: $*"; exit 1; }

make -s install PREFIX="$prefix" >/dev/null || fail "make install PREFIX=$prefix"
for f in bin/nnc lib/libnnrt.a include/nnrt.h lib/pkgconfig/nnrt.pc; do
    [ -f "$prefix/$f" ] || fail "$f was not installed"
done

nnc="$prefix/bin/nnc"
"$nnc" models/and.nn -o "$prefix/and" || fail "the installed nnc could not build a trainer"
out=$("$prefix/and" --quiet) || fail "the installed trainer failed"
case "$out" in *"acc 1.0000"*) ;; *) fail "the installed and-gate trainer printed: $out" ;; esac

"$nnc" models/and.nn -o "$prefix/and.c" || fail "emitting C with the installed nnc"
cc -std=c99 -O2 -o "$prefix/and_flags" "$prefix/and.c" $("$nnc" --cflags) $("$nnc" --libs) ||
    fail "building with nnc --cflags / --libs"
"$prefix/and_flags" --quiet >/dev/null || fail "the trainer built with --cflags/--libs failed"

pc="$prefix/lib/pkgconfig/nnrt.pc"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --exists nnrt || fail "pkg-config does not find nnrt.pc"
# nnrt.pc names the modules libnnrt.a links against, and no -L path:
# pkg-config finds them on the machine that builds (BLIS, which has no
# module, is named by its Debian path, the pthreads build).
BLAS=openblas BLAS_LIBS=
. build/blas.env || fail "build/blas.env (the BLAS make chose) is missing"
want="zlib "
[ "$BLAS" = openblas ] && want="openblas zlib "
req=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --print-requires-private nnrt | tr '\n' ' ')
[ "$req" = "$want" ] || fail "nnrt.pc's Requires.private is '$req', want '$want' (BLAS $BLAS)"
own=$(grep -v '^#' "$pc")
[ "$BLAS" = blis ] && own=$(echo "$own" | sed "s|$BLAS_LIBS||")   # BLIS's words (make's BLAS_LIBS) name its path
echo "$own" | grep -q -- '-L/\|-lopenblas\|-lz' &&
    fail "nnrt.pc names a library path or BLAS/zlib itself: $(echo "$own" | grep -- '-L/\|-lopenblas\|-lz')"
cc -std=c99 -O2 -o "$prefix/and_pc" "$prefix/and.c" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --static --libs nnrt) ||
    fail "building with pkg-config --static nnrt"
"$prefix/and_pc" --quiet >/dev/null || fail "the trainer built with pkg-config failed"

echo "install: ok (nnc, libnnrt.a, nnrt.h, nnrt.pc under $prefix; trainers built three ways)"
rm -rf "$prefix"
