"""peer_torch.py: the PyTorch peer -- the nnc model named on the command
line written the way a PyTorch user would (nn.Linear layers,
F.cross_entropy, torch.optim), started from the nnc program's initial
params (see peerlib.py for the flags and the output).

    /usr/bin/python3 bench/peer_torch.py fashion_relu --init init.safetensors --threads 1

nnc stores W as [in, out] (y = x @ W + b); nn.Linear keeps W^T.  Adam is
torch.optim.Adam, whose eps sits after the bias correction of v where
nnc's sits before: the same update up to eps * sqrt(1 - beta2^t).
A convolutional model (peerlib.CNNS, models/lenet.nn) is nn.Conv2d,
nn.MaxPool2d and nn.Flatten before its linear layers: conv weights are
[Cout, Cin, KH, KW] in both.  Momentum is torch.optim.SGD(momentum=μ),
whose v = μv + g, p -= lr·v is nnc's v = μv − lr·g, p += v while lr stays
the same; the lr of each epoch is set in the param group (nnc's linear
decay), where the two differ by how the history is scaled.
"""
import time

import torch
import torch.nn.functional as F

import peerlib

ACTS = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}


def conv_layer(layer, init):
    _, w, b, act, pad = layer
    W = torch.from_numpy(init[w])
    conv = torch.nn.Conv2d(W.shape[1], W.shape[0], (W.shape[2], W.shape[3]), padding=pad)
    with torch.no_grad():
        conv.weight.copy_(W)
        conv.bias.copy_(torch.from_numpy(init[b]))
    return [conv] + ([ACTS[act]()] if act else [])


def build(m, init):
    mods = []
    for layer in m["layers"]:
        if layer[0] == "conv":
            mods += conv_layer(layer, init)
            continue
        if layer[0] == "max_pool":
            mods.append(torch.nn.MaxPool2d(layer[1]))
            continue
        if layer[0] == "flatten":
            mods.append(torch.nn.Flatten())
            continue
        w, b, act = layer
        W = torch.from_numpy(init[w])
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(W.t())
            lin.bias.copy_(torch.from_numpy(init[b]))
        mods.append(lin)
        if act:
            mods.append(ACTS[act]())
    return torch.nn.Sequential(*mods)


def optimizer(o, params):
    if o["kind"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"])
    if o["kind"] == "momentum":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"])
    return torch.optim.Adam(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])


@torch.no_grad()
def evaluate(net, x, t, batch):
    loss = correct = 0.0
    for s in range(0, len(t), batch):
        y = net(x[s:s + batch])
        loss += F.cross_entropy(y, t[s:s + batch], reduction="sum").item()
        correct += (y.argmax(dim=1) == t[s:s + batch]).sum().item()
    return loss / len(t), correct / len(t)


def main():
    a, m = peerlib.parse_args("PyTorch")
    torch.set_num_threads(a.threads)
    net = build(m, peerlib.read_safetensors(a.init))
    x, t, xt, tt = (torch.from_numpy(v) if v is not None else None for v in peerlib.load_data(m, a.spiral))
    if a.model in peerlib.CNNS:  # images [N, 1, 28, 28]
        x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28) if xt is not None else None
    B = m["batch"]
    if a.check_init:
        print("init: loss %.4f | acc %.4f" % evaluate(net, x, t, B))
    opt = optimizer(m["opt"], net.parameters())
    gen = torch.Generator()
    n, step, losses = len(t), 0, []
    t0 = time.perf_counter()
    for e in range(m["epochs"]):
        for g in opt.param_groups:
            g["lr"] = peerlib.lr_at(m["opt"], e, m["epochs"])
        perm = torch.randperm(n, generator=gen.manual_seed(m["seed"] + e)) if m["shuffle"] else torch.arange(n)
        total = 0.0
        for s in range(0, n, B):
            idx = perm[s:s + B]
            loss = F.cross_entropy(net(x[idx]), t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += loss.item() * len(idx)
        losses.append(total / n)
        if xt is not None and (e + 1) % m["eval_every"] == 0:
            evaluate(net, xt, tt, B)
    secs = time.perf_counter() - t0
    if a.log_csv:
        peerlib.write_csv(a.log_csv, losses)
    loss, acc = evaluate(net, x, t, B)
    test = evaluate(net, xt, tt, B) if xt is not None else None
    print(peerlib.fmt_summary(m["epochs"], step, secs, loss, acc, test))


if __name__ == "__main__":
    main()
