"""peer_numpy.py: the NumPy peer -- a dense network with its forward and
backward written by hand in float32, trained like the nnc model named on
the command line (see peerlib.py for the flags and the output).

    /usr/bin/python3 bench/peer_numpy.py fashion_relu --init init.safetensors

Per layer l (a0 = x):   z = a @ W + b,  a = act(z)
softmax cross-entropy:  dz_L = (softmax(z_L) - onehot(t)) / n
back through layer l:   dW = a_prev^T @ dz,  db = sum_rows(dz),
                        da_prev = dz @ W^T,  dz_prev = da_prev * act'(a_prev)
                        (sigmoid: a(1-a), relu: [a > 0])
sgd:   p -= lr * g
adam:  m += (1-b1)(g - m);  v += (1-b2)(g^2 - v);  p -= lr_t * m / (sqrt(v) + eps),
       lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)     (nnc's form)
"""
import time

import numpy as np

import peerlib

F32 = np.float32


def forward(params, layers, x):
    """Every layer's output a_l, the logits last."""
    acts = [x]
    for w, b, act in layers:
        z = acts[-1] @ params[w]
        z += params[b]
        if act == "sigmoid":
            z = F32(1) / (F32(1) + np.exp(-z))
        elif act == "relu":
            np.maximum(z, F32(0), out=z)
        acts.append(z)
    return acts


def softmax_ce(y, t):
    """Mean loss over the rows and the gradient (softmax(y) - onehot(t)) / n."""
    n = len(t)
    z = y - y.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), t]))
    dy = e / s
    dy[np.arange(n), t] -= F32(1)
    dy /= F32(n)
    return loss, dy


def backward(params, layers, acts, dz):
    grads = {}
    for l in range(len(layers) - 1, -1, -1):
        w, b, _ = layers[l]
        a_prev = acts[l]
        grads[w] = a_prev.T @ dz
        grads[b] = dz.sum(axis=0)
        if l == 0:
            break
        da = dz @ params[w].T
        act = layers[l - 1][2]
        if act == "sigmoid":
            dz = da * a_prev * (F32(1) - a_prev)
        elif act == "relu":
            dz = da * (a_prev > 0)
        else:
            dz = da
    return grads


class Optimizer:
    def __init__(self, opt, params):
        self.o = opt
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params, grads, step):
        o = self.o
        if o["kind"] == "sgd":
            for k, g in grads.items():
                params[k] -= F32(o["lr"]) * g
            return
        b1, b2 = o["beta1"], o["beta2"]
        lr_t = F32(o["lr"] * np.sqrt(1 - b2 ** step) / (1 - b1 ** step))
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m += F32(1 - b1) * (g - m)
            v += F32(1 - b2) * (g * g - v)
            params[k] -= lr_t * m / (np.sqrt(v) + F32(o["eps"]))


def evaluate(params, layers, x, t, batch):
    loss = correct = 0.0
    for s in range(0, len(t), batch):
        y = forward(params, layers, x[s:s + batch])[-1]
        loss += softmax_ce(y, t[s:s + batch])[0] * len(y)
        correct += float((y.argmax(axis=1) == t[s:s + batch]).sum())
    return loss / len(t), correct / len(t)


def main():
    a, m = peerlib.parse_args("NumPy")
    if a.model in peerlib.CNNS:
        raise SystemExit(f"peer_numpy.py: {a.model} is convolutional; the NumPy peer has dense layers only")
    params = peerlib.read_safetensors(a.init)
    x, t, xt, tt = peerlib.load_data(m, a.spiral)
    layers, B = m["layers"], m["batch"]
    if a.check_init:
        print("init: loss %.4f | acc %.4f" % evaluate(params, layers, x, t, B))
    opt = Optimizer(m["opt"], params)
    n, step, losses = len(t), 0, []
    t0 = time.perf_counter()
    for e in range(m["epochs"]):
        perm = np.random.default_rng(m["seed"] + e).permutation(n) if m["shuffle"] else np.arange(n)
        total = 0.0
        for s in range(0, n, B):
            idx = perm[s:s + B]
            acts = forward(params, layers, x[idx])
            loss, dy = softmax_ce(acts[-1], t[idx])
            step += 1
            opt.step(params, backward(params, layers, acts, dy), step)
            total += loss * len(idx)
        losses.append(total / n)
        if xt is not None and (e + 1) % m["eval_every"] == 0:
            evaluate(params, layers, xt, tt, B)
    secs = time.perf_counter() - t0
    if a.log_csv:
        peerlib.write_csv(a.log_csv, losses)
    loss, acc = evaluate(params, layers, x, t, B)
    test = evaluate(params, layers, xt, tt, B) if xt is not None else None
    print(peerlib.fmt_summary(m["epochs"], step, secs, loss, acc, test))


if __name__ == "__main__":
    main()
