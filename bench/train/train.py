#!/usr/bin/python3
"""Trains a small BatchNorm ResNet on Fashion-MNIST with and without the
operator-norm projection of Sedghi, Gupta & Long (ICLR 2019), the projection
done by convsv in a long-lived server process (bench/train/clip_server.ts).

This is the worker of bench/train/train.ts (the command people run); it can
also be run alone:

    /usr/bin/python3 bench/train/train.py < config.json

It needs Debian's PyTorch (`apt-get install -y python3-torch`, under
/usr/bin/python3) and Debian's Fashion-MNIST
(`apt-get install -y dataset-fashion-mnist`).

The configuration (JSON on standard input; every key has a default below):
    data_dir       folder of the four *-ubyte.gz files
    train_size     training images used (a fixed subset, the same in every run)
    test_size      test images evaluated (the first ones of the test set)
    epochs, batch_size, lr, momentum, weight_decay, nesterov
                   SGD with momentum; the learning rate follows a cosine from
                   lr to 0 over all steps
    widths, blocks channels per stage and basic blocks per stage
    clip_every     steps between projections (the paper's 100)
    clip           options sent with every clip request: iterations, tolerance,
                   certify (default true), method
    server         the server's command line (a list)
    threads        torch.set_num_threads
    bn_batches     after the last step, BatchNorm's running statistics are
                   re-estimated on this many training batches (a plain average,
                   weights unchanged) in every run: a projection in the last
                   steps would otherwise leave them describing the kernels
                   before it; 0 keeps them as training left them
    runs           a list of {"radius": r or null, "seed": s, "fold_bn": bool}

Every run writes one JSON line to standard output (see run_one for its
fields); progress goes to standard error. A run with a radius projects every
Conv2d weight every clip_every steps onto {W : ||W|| <= radius}, W the layer
with its own stride and zero padding on its real input size, certified by
convsv (normAfter <= radius); with fold_bn the projected operator is
diag(gamma / sqrt(running_var + eps)) . conv, the BatchNorm that follows the
conv in inference form. A run with radius null asks the server for the same
norms at the same steps and changes nothing.
"""
import base64
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import time

DEFAULTS = {
    "data_dir": "/usr/share/datasets/fashion-mnist",
    "train_size": 60000,
    "test_size": 10000,
    "epochs": 1,
    "batch_size": 64,
    "lr": 0.05,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 5e-4,
    "widths": [16, 32, 64],
    "blocks": [1, 1, 1],
    "clip_every": 100,
    "clip": {"iterations": 10, "tolerance": 0.01, "certify": True},
    "server": ["./node_modules/.bin/deno", "run", "-A", "bench/train/clip_server.ts"],
    "threads": 1,
    "subset_seed": 20190506,
    "bn_batches": 20,
    "runs": [{"radius": None, "seed": 0}],
}

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

HOW_TO_GET = ("Fashion-MNIST is Debian's package dataset-fashion-mnist: "
              "`apt-get update && apt-get install -y dataset-fashion-mnist` "
              "(files /usr/share/datasets/fashion-mnist/*-ubyte.gz)")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def read_idx(path):
    """An IDX file (gzip): unsigned bytes, magic 0x00000801 (labels, rank 1)
    or 0x00000803 (images, rank 3), big-endian sizes after the magic."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, rank = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    body = raw[4 + 4 * rank:]
    if len(body) != math.prod(dims):
        raise ValueError(f"{path}: {len(body)} bytes of data for dims {dims}")
    return dims, body


def load_data(torch, data_dir):
    paths = {k: os.path.join(data_dir, v) for k, v in FILES.items()}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}. {HOW_TO_GET}")
    out = {}
    for split in ("train", "test"):
        dims, body = read_idx(paths[split + "_images"])
        ldims, lbody = read_idx(paths[split + "_labels"])
        if len(dims) != 3 or ldims[0] != dims[0]:
            raise ValueError(f"{split}: images {dims} and labels {ldims} do not match")
        x = torch.frombuffer(bytearray(body), dtype=torch.uint8).view(dims[0], 1, dims[1], dims[2])
        y = torch.frombuffer(bytearray(lbody), dtype=torch.uint8).long()
        out[split] = (x, y)
    return out


class ClipServer:
    """The convsv process: one JSON line per request, one per reply."""

    def __init__(self, cmd):
        env = dict(os.environ, RUST_BACKTRACE="0", NO_COLOR="1")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.next_id = 0

    def request(self, req):
        self.next_id += 1
        req["id"] = self.next_id
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the clip server exited (status {self.proc.poll()})")
        reply = json.loads(line)
        if reply.get("id") != req["id"]:
            raise RuntimeError(f"reply {reply.get('id')} to request {req['id']}")
        if not reply.get("ok"):
            raise RuntimeError(f"clip server: {reply.get('error')}")
        return reply

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def build_model(torch, widths, blocks):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
                self.short_bn = nn.BatchNorm2d(cout)

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x if self.short is None else self.short_bn(self.short(x))
            return F.relu(y + s)

        def pairs(self, prefix):
            out = [(prefix + "conv1", self.conv1, self.bn1), (prefix + "conv2", self.conv2, self.bn2)]
            if self.short is not None:
                out.append((prefix + "short", self.short, self.short_bn))
            return out

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
            self.stem_bn = nn.BatchNorm2d(widths[0])
            layers, cin = [], widths[0]
            for i, (w, n) in enumerate(zip(widths, blocks)):
                for j in range(n):
                    layers.append(Block(cin, w, 2 if (i > 0 and j == 0) else 1))
                    cin = w
            self.blocks = nn.ModuleList(layers)
            self.fc = nn.Linear(cin, 10)

        def forward(self, x):
            x = F.relu(self.stem_bn(self.stem(x)))
            for b in self.blocks:
                x = b(x)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

        def conv_bn_pairs(self):
            out = [("stem", self.stem, self.stem_bn)]
            for i, b in enumerate(self.blocks):
                out += b.pairs(f"block{i}.")
            return out

    return ResNet()


def input_sizes(torch, model, pairs, shape):
    """The spatial input size of every conv, from one forward pass."""
    sizes, hooks = {}, []
    for name, conv, _ in pairs:
        hooks.append(conv.register_forward_hook(
            lambda m, inp, out, name=name: sizes.__setitem__(name, list(inp[0].shape[2:]))))
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, *shape))
        model.train()
    for h in hooks:
        h.remove()
    return sizes


def layer_request(torch, conv, bn, size, fold_bn):
    w = conv.weight.detach().to(torch.float32).contiguous()
    req = {
        "kernel": base64.b64encode(w.numpy().astype("<f4").tobytes()).decode("ascii"),
        "dtype": "float32",
        "shape": list(w.shape),
        "layout": "oihw",
        "inputShape": size,
        "stride": list(conv.stride),
        "padding": list(conv.padding),
        "groups": conv.groups,
        "dilation": list(conv.dilation),
    }
    if fold_bn:
        scale = (bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)).double()
        # convsv refuses a zero factor; a channel BatchNorm switched off is left out of the ball's bound.
        scale = torch.where(scale.abs() < 1e-12, torch.full_like(scale, 1e-12), scale)
        req["scale"] = scale.tolist()
    return req


def recalibrate_bn(torch, model, x, mean, std, batches, bs, gen):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    perm = torch.randperm(len(x), generator=gen)
    model.train()
    with torch.no_grad():
        for b in range(min(batches, len(x) // bs)):
            model((x[perm[b * bs:(b + 1) * bs]].float() / 255 - mean) / std)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum


def evaluate(torch, model, x, y, mean, std):
    model.eval()
    wrong = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = (x[i:i + 1000].float() / 255 - mean) / std
            wrong += int((model(xb).argmax(1) != y[i:i + 1000]).sum())
    model.train()
    return wrong / len(x)


def run_one(torch, cfg, data, server, run):
    """One training run; returns its record:
    radius, seed, fold_bn, test_error, loss_curve [{step, loss}] (mean
    training loss of each clip_every steps), epoch_loss, steps, train_s (the
    training steps' wall time), proj_s (wall time of the projection requests,
    the Python side included), proj_server_ms (convsv's own time), measure_s
    (radius null: the norm requests), eval_s (BatchNorm statistics and the
    test set), layers [{name, shape, stride,
    padding, inputShape, grid}], projections [{step, layers: [{normBefore,
    normAfter, certified, certifyScale, iterations}]}] (radius null: normBefore
    only), final_norms (every layer after the last step)."""
    seed, radius, fold_bn = run["seed"], run.get("radius"), bool(run.get("fold_bn", False))
    torch.manual_seed(seed)
    model = build_model(torch, cfg["widths"], cfg["blocks"])
    pairs = model.conv_bn_pairs()
    sizes = input_sizes(torch, model, pairs, (1, 28, 28))
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                          nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"])
    x, y = data["train"]
    xt, yt = data["test"]
    mean, std = data["mean"], data["std"]
    n, bs = len(x), cfg["batch_size"]
    steps_per_epoch = n // bs
    total = steps_per_epoch * cfg["epochs"]
    gen = torch.Generator().manual_seed(seed)
    F = torch.nn.functional

    def norms_now(step):
        t0 = time.perf_counter()
        rec = {"step": step, "layers": []}
        ms = 0.0
        for name, conv, bn in pairs:
            req = layer_request(torch, conv, bn, sizes[name], fold_bn)
            req["op"] = "norm"
            rep = server.request(req)
            ms += rep["ms"]
            rec["layers"].append({"normBefore": rep["norm"]})
        return rec, time.perf_counter() - t0, ms

    def project(step):
        t0 = time.perf_counter()
        rec = {"step": step, "layers": []}
        ms = 0.0
        for name, conv, bn in pairs:
            req = layer_request(torch, conv, bn, sizes[name], fold_bn)
            req.update({"op": "clip", "maxNorm": radius, **cfg["clip"]})
            rep = server.request(req)
            ms += rep["ms"]
            w = torch.frombuffer(bytearray(base64.b64decode(rep["kernel"])), dtype=torch.float32)
            with torch.no_grad():
                conv.weight.copy_(w.view_as(conv.weight))
            rec["layers"].append({k: rep[k] for k in
                                  ("normBefore", "normAfter", "certified", "certifyScale", "iterations")})
        return rec, time.perf_counter() - t0, ms

    train_s = proj_s = measure_s = 0.0
    proj_ms = 0.0
    projections, loss_curve, epoch_loss = [], [], []
    step, window, window_n = 0, 0.0, 0
    for epoch in range(cfg["epochs"]):
        perm = torch.randperm(n, generator=gen)
        total_loss = 0.0
        for b in range(steps_per_epoch):
            t0 = time.perf_counter()
            idx = perm[b * bs:(b + 1) * bs]
            xb = (x[idx].float() / 255 - mean) / std
            lr = 0.5 * cfg["lr"] * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            train_s += time.perf_counter() - t0
            lv = float(loss)
            total_loss += lv
            window += lv
            window_n += 1
            if step % cfg["clip_every"] == 0:
                loss_curve.append({"step": step, "loss": window / window_n})
                window, window_n = 0.0, 0
                if radius is None:
                    rec, dt, ms = norms_now(step)
                    measure_s += dt
                else:
                    rec, dt, ms = project(step)
                    proj_s += dt
                    proj_ms += ms
                projections.append(rec)
        epoch_loss.append(total_loss / steps_per_epoch)
        log(f"  seed {seed} radius {radius} fold_bn {fold_bn}: epoch {epoch + 1}/{cfg['epochs']} "
            f"loss {epoch_loss[-1]:.4f} ({train_s + proj_s:.1f} s)")
    if window_n:
        loss_curve.append({"step": step, "loss": window / window_n})
    t0 = time.perf_counter()
    if cfg["bn_batches"] > 0:
        recalibrate_bn(torch, model, x, mean, std, cfg["bn_batches"], bs, gen)
    err = evaluate(torch, model, xt, yt, mean, std)
    eval_s = time.perf_counter() - t0
    final, _, _ = norms_now(step)
    return {
        "radius": radius,
        "seed": seed,
        "fold_bn": fold_bn,
        "test_error": err,
        "test_size": len(xt),
        "train_size": n,
        "steps": step,
        "epoch_loss": epoch_loss,
        "loss_curve": loss_curve,
        "train_s": train_s,
        "proj_s": proj_s,
        "proj_server_ms": proj_ms,
        "measure_s": measure_s,
        "eval_s": eval_s,
        "layers": [{"name": name, "shape": list(conv.weight.shape), "stride": list(conv.stride),
                    "padding": list(conv.padding), "inputShape": sizes[name]} for name, conv, _ in pairs],
        "projections": projections,
        "final_norms": [l["normBefore"] for l in final["layers"]],
    }


def main():
    cfg = dict(DEFAULTS)
    cfg.update(json.load(sys.stdin))
    try:
        import torch
    except ImportError:
        raise SystemExit("this Python has no torch: run Debian's /usr/bin/python3 "
                         "(`apt-get install -y python3-torch`)")
    torch.set_num_threads(cfg["threads"])
    raw = load_data(torch, cfg["data_dir"])
    x, y = raw["train"]
    g = torch.Generator().manual_seed(cfg["subset_seed"])
    keep = torch.randperm(len(x), generator=g)[:cfg["train_size"]]
    x, y = x[keep].contiguous(), y[keep].contiguous()
    xf = x.float() / 255
    data = {"train": (x, y), "test": (raw["test"][0][:cfg["test_size"]], raw["test"][1][:cfg["test_size"]]),
            "mean": float(xf.mean()), "std": float(xf.std())}
    del xf
    server = ClipServer(cfg["server"])
    try:
        for run in cfg["runs"]:
            t0 = time.perf_counter()
            rec = run_one(torch, cfg, data, server, run)
            rec["wall_s"] = time.perf_counter() - t0
            log(f"  seed {rec['seed']} radius {rec['radius']} fold_bn {rec['fold_bn']}: "
                f"test error {rec['test_error']:.4f}, projection {rec['proj_s']:.2f} s of "
                f"{rec['train_s'] + rec['proj_s']:.1f} s")
            print(json.dumps(rec), flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
