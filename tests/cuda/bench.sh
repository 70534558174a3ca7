#!/bin/sh
# tests/cuda/bench.sh: make bench-cuda -- seconds per epoch of nnc's CUDA
# programs against PyTorch CUDA eager on the same GPU, in one run.
#
# Workloads: models/fashion_relu.nn (784-100-10, batch 100, SGD 0.1, the
# test set evaluated every epoch) and tests/cuda/bench/mlp_1024.nn
# (784-1024-1024-10, batch 256, SGD 0.05).  For each: the program nnc
# builds (`nnc M.nn --target cuda -o PROG`), its initial params exported
# (`PROG --epochs 0 --save`), then nnc and PyTorch (tests/cuda/bench_torch.py,
# from the same params, same hyperparameters) each train EPOCHS epochs;
# the second and later epochs give the median seconds per epoch (the first
# holds graph capture, cuBLAS's and PyTorch's warm-up; it is shown too).
# nnc's epoch times come from its progress lines (the cumulative time at
# each epoch's last iteration), PyTorch's from its own per-epoch lines,
# with the GPU synchronized.  Targets (docs/cuda.md): fashion_relu at least 3x
# faster than PyTorch, mlp_1024 at least as fast; measured and printed,
# not asserted.
#
# Where there is no GPU (nvidia-smi -L lists none) it says so and exits 0.
EPOCHS=${EPOCHS:-6}
W=build/cuda/bench
FM=/usr/share/datasets/fashion-mnist

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench-cuda: no GPU here (nvidia-smi -L lists none): nothing was measured"
    exit 0
fi
NVCC=${NVCC:-$(command -v nvcc 2>/dev/null)}
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
    echo "bench-cuda: a GPU but no nvcc (PATH, /usr/local/cuda/bin): cannot build the programs"
    exit 1
fi
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
    echo "bench-cuda: Fashion-MNIST is not in $FM (sh scripts/deps.sh data)"
    exit 1
fi
PY=""
for p in python3 /usr/bin/python3 /usr/local/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
        PY=$p
        break
    fi
done
mkdir -p "$W"
export NVCC
echo "bench-cuda: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1), nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
[ -n "$PY" ] && echo "bench-cuda: PyTorch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
[ -z "$PY" ] && echo "bench-cuda: no python3 with torch.cuda found: nnc alone is measured"

# epoch_times FILE: nnc's seconds per epoch, one a line, from the cumulative
# progress times at each epoch's last iteration
epoch_times() {
    sed -n 's/^| epoch \([0-9]*\) | iter \([0-9]*\)\/\2 | time \([0-9.]*\)s.*/\3/p' "$1" |
        awk '{ printf "%.6f\n", $1 - prev; prev = $1 }'
}
# median of the lines after the first
median_rest() {
    sed 1d "$1" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for pair in fashion_relu:models/fashion_relu.nn:3 mlp_1024:tests/cuda/bench/mlp_1024.nn:1; do
    name=${pair%%:*}
    rest=${pair#*:}
    src=${rest%%:*}
    target=${rest#*:}
    if ! build/nnc "$src" --target cuda -o "$W/$name" 2>"$W/$name.build.log"; then
        echo "bench-cuda: building $name failed:"
        sed 's/^/    /' "$W/$name.build.log"
        exit 1
    fi
    "$W/$name" --epochs 0 --quiet --save "$W/$name.init.safetensors" >/dev/null
    "$W/$name" --epochs "$EPOCHS" >"$W/$name.nnc.log" 2>&1 || { echo "bench-cuda: $name failed:"; tail -5 "$W/$name.nnc.log"; exit 1; }
    epoch_times "$W/$name.nnc.log" >"$W/$name.nnc.epochs"
    nnc_first=$(head -1 "$W/$name.nnc.epochs")
    nnc_med=$(median_rest "$W/$name.nnc.epochs")
    echo
    echo "$name: $EPOCHS epochs"
    echo "  nnc CUDA      epoch 1 ${nnc_first}s, then median ${nnc_med}s per epoch | $(grep '^done:' "$W/$name.nnc.log")"
    if [ -z "$PY" ]; then
        continue
    fi
    "$PY" tests/cuda/bench_torch.py "$name" --init "$W/$name.init.safetensors" --epochs "$EPOCHS" \
        >"$W/$name.torch.log" 2>&1 || { echo "  PyTorch failed:"; tail -5 "$W/$name.torch.log"; continue; }
    sed -n 's/^epoch [0-9]*: \([0-9.]*\) s.*/\1/p' "$W/$name.torch.log" >"$W/$name.torch.epochs"
    t_first=$(head -1 "$W/$name.torch.epochs")
    t_med=$(median_rest "$W/$name.torch.epochs")
    echo "  PyTorch eager epoch 1 ${t_first}s, then median ${t_med}s per epoch | $(grep '^done:' "$W/$name.torch.log")"
    awk -v n="$nnc_med" -v t="$t_med" -v want="$target" -v name="$name" 'BEGIN {
        r = t / n
        printf "  nnc is %.2fx PyTorch per epoch (target: at least %sx): %s\n", r, want, r >= want ? "met" : "MISSED"
    }'
done
