"""peerlib.py: what the two peers (peer_torch.py, peer_numpy.py) share.

A peer trains the nnc model it is named after with exactly its
hyperparameters: MODELS gives the dense layers, everything else (data and
its transforms, optimizer and its arguments, epochs, batch, shuffle,
seed, eval_every) is read from the model's train block, and a key the
peers do not implement stops them.  A peer starts from the nnc program's
own initial params (`PROG --epochs 0 --save init.safetensors`), trains on
the same rows converted the same way (shuffled by its own RNG), and prints
nnc's summary line:

    init: loss 2.5968 | acc 0.0569                    (--check-init only)
    done: 5 epochs, 3000 steps in 1.234567s | loss 0.31 | acc 0.88 | test loss .. | test acc ..

The training time covers the epochs only, as nnc's does: batch gathering,
the steps, and the test evaluations that fall inside training
(eval_every); loading and the summary's evaluation are outside.
"""
import argparse
import gzip
import json
import os
import re
import struct

import numpy as np

# The dense layers of each benchmark model, in order: the checkpoint keys
# of W ([in, out]) and b, and the activation after it.  Everything else
# (data, optimizer, epochs, ...) is read from the model's train block.
# A convolutional model lists its layers in CNNS instead (PyTorch peer
# only): ("conv", W, b, act, pad), ("max_pool", size), ("flatten",) and
# the dense layers as above; its images are [N, 1, 28, 28].
CNNS = {
    "lenet": ("models/lenet.nn", [("conv", "c1.W", "c1.b", "relu", 2), ("max_pool", 2),
                                  ("conv", "c2.W", "c2.b", "relu", 0), ("max_pool", 2), ("flatten",),
                                  ("h1.W", "h1.b", "relu"), ("h2.W", "h2.b", "relu"), ("y.W", "y.b", None)]),
}
MODELS = {
    "twolayer": ("models/twolayer.nn", [("W1", "b1", "sigmoid"), ("W2", "b2", None)]),
    "fashion_relu": ("models/fashion_relu.nn", [("h.W", "h.b", "relu"), ("y.W", "y.b", None)]),
    "mlp_large": ("bench/models/mlp_large.nn",
                  [("h1.W", "h1.b", "relu"), ("h2.W", "h2.b", "relu"), ("y.W", "y.b", None)]),
}
MODELS.update(CNNS)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The train block's keys and the optimizers a peer implements, with the
# defaults of nnc's builtin table (compiler/sema_expr.c).
TRAIN_KEYS = {"data", "test", "optimizer", "epochs", "batch", "shuffle", "seed", "eval_every", "log_every"}
OPT_DEFAULTS = {"sgd": {"lr": 0.01}, "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                "momentum": {"lr": 0.01, "momentum": 0.9, "decay": "none", "final_lr": 0.0}}
DECAYS = ("none", "linear")


def number(text):
    """A literal or a quotient of literals, as in scale=1.0/255."""
    parts = [float(p) for p in text.split("/")]
    v = parts[0]
    for p in parts[1:]:
        v /= p
    return v


def call_args(text):
    return {k: v.strip().strip('"') for k, v in re.findall(r"(\w+)\s*=\s*(\"[^\"]*\"|[^,)]+)", text)}


def read_source(call):
    """A data source call: spiral(...) or idx(...) with its transforms."""
    kind, args = re.match(r"(\w+)\s*\((.*)\)\s*$", call, re.S).groups()
    a = call_args(args)
    src = {"kind": kind, "scale": number(a.get("scale", "1")), "normalize": a.get("normalize") == "true"}
    if kind == "spiral":
        src.update(classes=int(a.get("classes", 3)), points=int(a.get("points", 100)), seed=int(a.get("seed", 1984)))
    elif kind == "idx":
        src.update(images=a["images"], labels=a["labels"])
    else:
        raise SystemExit(f"peers read spiral() and idx() data only, not {kind}()")
    return src


def read_model(name):
    """The model's layers and its train block: {"layers", "data", "test",
    "opt", "epochs", "batch", "shuffle", "seed", "eval_every"}."""
    path, layers = MODELS[name]
    with open(os.path.join(ROOT, path)) as f:
        src = re.sub(r"#[^\n]*", "", f.read())
    block = re.search(r"\btrain\s*\{(.*)\}", src, re.S).group(1)
    keys = dict((k, v.strip()) for k, v in re.findall(r"(\w+)\s*=\s*((?:[^;\"]|\"[^\"]*\")*);", block))
    unknown = set(keys) - TRAIN_KEYS
    if unknown:
        raise SystemExit(f"{path}: the peers do not implement train keys {sorted(unknown)}")
    kind, args = re.match(r"(\w+)\s*\((.*)\)", keys["optimizer"], re.S).groups()
    if kind not in OPT_DEFAULTS:
        raise SystemExit(f"{path}: the peers implement {sorted(OPT_DEFAULTS)}, not {kind}")
    given = {k: v if k == "decay" else number(v) for k, v in call_args(args).items()}
    if given.get("decay", "none") not in DECAYS:
        raise SystemExit(f"{path}: the peers implement the lr decays {DECAYS}, not {given['decay']}")
    if set(given) - set(OPT_DEFAULTS[kind]):
        raise SystemExit(f"{path}: the peers do not implement {kind} arguments {sorted(set(given) - set(OPT_DEFAULTS[kind]))}")
    return {
        "layers": layers,
        "data": read_source(keys["data"]),
        "test": read_source(keys["test"]) if "test" in keys else None,
        "opt": dict(OPT_DEFAULTS[kind], **given, kind=kind),
        "epochs": int(keys.get("epochs", 1)), "batch": int(keys["batch"]),
        "shuffle": keys.get("shuffle", "true") == "true", "seed": int(keys.get("seed", 0)),
        "eval_every": int(keys.get("eval_every", 1)),
    }


def lr_at(o, epoch, epochs):
    """The learning rate of an epoch, as nnrt_lr_at computes it."""
    if o.get("decay", "none") != "linear" or epochs <= 1:
        return o["lr"]
    return o["lr"] + (o["final_lr"] - o["lr"]) * epoch / (epochs - 1)


def parse_args(peer):
    p = argparse.ArgumentParser(description=f"{peer} peer of an nnc benchmark model")
    p.add_argument("model", choices=sorted(MODELS))
    p.add_argument("--init", required=True, help="the nnc program's initial params (safetensors)")
    p.add_argument("--spiral", help="the spiral rows from spiral_export (spiral models)")
    p.add_argument("--epochs", type=int, help="override the model's epochs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-csv", help="epoch,loss: the mean training loss of each epoch")
    p.add_argument("--check-init", action="store_true", help="print the loss of the initial params")
    a = p.parse_args()
    m = read_model(a.model)
    if a.epochs is not None:
        m["epochs"] = a.epochs
    return a, m


def read_safetensors(path):
    """{name: float32 array} from a safetensors file (F32 tensors only)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}, not F32"
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + lo:8 + n + hi], dtype="<f4").reshape(info["shape"]).copy()
    return out


def read_idx_raw(path):
    """An IDX file's bytes, raw or gzip (a path relative to the repository root)."""
    if not os.path.isabs(path):
        path = os.path.join(ROOT, path)
    with open(path, "rb") as f:
        blob = f.read()
    return gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob


def idx_head(blob, count):
    """The first count items of an IDX file's bytes, as an IDX file."""
    nd = blob[3]
    dims = list(struct.unpack(">" + "I" * nd, blob[4:4 + 4 * nd]))
    item = 1
    for d in dims[1:]:
        item *= d
    count = min(count, dims[0])
    return blob[:4] + struct.pack(">" + "I" * nd, count, *dims[1:]) + blob[4 + 4 * nd:4 + 4 * nd + count * item]


def read_idx(path):
    blob = read_idx_raw(path)
    nd = blob[3]
    dims = struct.unpack(">" + "I" * nd, blob[4:4 + 4 * nd])
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims[0], -1)


def read_images(src, stats=None):
    """Inputs as nnrt_gather converts them: (raw * scale - mean) / std, with
    mean 0 and std 1 unless normalize is on; then the training set's one
    mean and std over all its values (the test set reuses them)."""
    x = read_idx(src["images"]).astype(np.float32) * np.float32(src["scale"])
    if not src["normalize"]:
        return x, None
    if stats is None:
        mean = x.mean(dtype=np.float64)
        stats = (np.float32(mean), np.float32(np.sqrt(np.mean((x.astype(np.float64) - mean) ** 2))))
    return (x - stats[0]) / stats[1], stats


def load_data(m, spiral_path):
    """(x_train f32 [N,D], t_train int64 [N], x_test, t_test); test None when
    the model has none.  Spiral rows come from spiral_export's file."""
    if m["data"]["kind"] == "spiral":
        raw = np.fromfile(spiral_path, dtype=np.uint8)
        rows = len(raw) // 12
        x = raw[:rows * 8].view("<f4").reshape(rows, 2).copy()
        t = raw[rows * 8:].view("<i4").astype(np.int64)
        return x, t, None, None
    x, stats = read_images(m["data"])
    t = read_idx(m["data"]["labels"]).reshape(-1).astype(np.int64)
    if m["test"] is None:
        return x, t, None, None
    xt, _ = read_images(m["test"], stats)
    return x, t, xt, read_idx(m["test"]["labels"]).reshape(-1).astype(np.int64)


def fmt_summary(epochs, steps, secs, loss, acc, test=None):
    s = f"done: {epochs} epochs, {steps} steps in {secs:.6f}s | loss {loss:.4f} | acc {acc:.4f}"
    if test is not None:
        s += f" | test loss {test[0]:.4f} | test acc {test[1]:.4f}"
    return s


def write_csv(path, losses):
    with open(path, "w") as f:
        f.write("epoch,loss\n")
        for e, l in enumerate(losses, 1):
            f.write(f"{e},{l:.6f}\n")
