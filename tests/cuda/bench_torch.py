"""tests/cuda/bench_torch.py: the PyTorch CUDA eager peer of make bench-cuda.

    python3 tests/cuda/bench_torch.py MODEL --init INIT.safetensors [--epochs N]

MODEL is fashion_relu or mlp_1024 (tests/cuda/bench/mlp_1024.nn).  The
network, data, optimizer and every train-block setting come from the .nn
file through bench/peerlib.py (the CPU benchmark's reader); the params
start from the nnc program's own initial values (PROG --epochs 0 --save
INIT).  It is written the way a PyTorch user would write it on a GPU: the
data set moved to the device once, a batch indexed there, nn.Linear layers,
F.cross_entropy, torch.optim.SGD/Adam (foreach), the running loss summed on
the device (no .item() per step).  It prints one line per epoch,
    epoch E: S.SSSSSS s (train loss L)
with the GPU synchronized at each epoch's end, then nnc's summary line.
An epoch's time covers its steps and the test evaluations that fall in it
(eval_every), as the nnc program's progress times do.
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))
import peerlib  # noqa: E402

peerlib.MODELS["mlp_1024"] = ("tests/cuda/bench/mlp_1024.nn",
                              [("h1.W", "h1.b", "relu"), ("h2.W", "h2.b", "relu"), ("y.W", "y.b", None)])


def build(m, init, dev):
    mods = []
    for w, b, act in m["layers"]:
        W = torch.from_numpy(init[w])
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(W.t())
            lin.bias.copy_(torch.from_numpy(init[b]))
        mods.append(lin)
        if act == "relu":
            mods.append(torch.nn.ReLU())
        elif act == "sigmoid":
            mods.append(torch.nn.Sigmoid())
    return torch.nn.Sequential(*mods).to(dev)


def optimizer(o, params):
    if o["kind"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], foreach=True)
    return torch.optim.Adam(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], foreach=True)


@torch.no_grad()
def evaluate(net, x, t, batch):
    loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for s in range(0, len(t), batch):
        y = net(x[s:s + batch])
        loss += F.cross_entropy(y, t[s:s + batch], reduction="sum")
        correct += (y.argmax(dim=1) == t[s:s + batch]).sum()
    return loss.item() / len(t), correct.item() / len(t)


def main():
    a, m = peerlib.parse_args("PyTorch CUDA")
    if not torch.cuda.is_available():
        raise SystemExit("bench_torch: torch.cuda is not available")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 GEMMs, as nnc's cuBLAS calls
    net = build(m, peerlib.read_safetensors(a.init), dev)
    x, t, xt, tt = peerlib.load_data(m, a.spiral)
    x, t = torch.from_numpy(x).to(dev), torch.from_numpy(t).to(dev)
    if xt is not None:
        xt, tt = torch.from_numpy(xt).to(dev), torch.from_numpy(tt).to(dev)
    B, n = m["batch"], len(t)
    opt = optimizer(m["opt"], net.parameters())
    gen = torch.Generator()
    step = 0
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for e in range(m["epochs"]):
        start = time.perf_counter()
        perm = torch.randperm(n, generator=gen.manual_seed(m["seed"] + e)) if m["shuffle"] else torch.arange(n)
        perm = perm.to(dev)
        total = torch.zeros((), device=dev)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            loss = F.cross_entropy(net(x[idx]), t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += loss.detach() * len(idx)
        if xt is not None and (e + 1) % m["eval_every"] == 0:
            evaluate(net, xt, tt, B)
        torch.cuda.synchronize()
        print("epoch %d: %.6f s (train loss %.4f)" % (e + 1, time.perf_counter() - start, total.item() / n), flush=True)
    secs = time.perf_counter() - t0
    loss, acc = evaluate(net, x, t, B)
    test = evaluate(net, xt, tt, B) if xt is not None else None
    print(peerlib.fmt_summary(m["epochs"], step, secs, loss, acc, test))


if __name__ == "__main__":
    main()
