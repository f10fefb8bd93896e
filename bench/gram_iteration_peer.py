"""Gram iteration (Delattre, Barthélemy, Araujo & Allauzen, ICML 2023) in PyTorch: the
peer of bench/screening.ts's exact operator norm (issue 17, item 1).

For a stride-1 circular 2-D convolution, the kernel (OIHW, float64) is zero-padded to the
input size and transformed (rfft2: a real kernel's other frequencies mirror these), then
`iters` Gram steps run on every frequency's matrix at once, each rescaled by its Frobenius
norm in logarithms; the bound is max over frequencies of ‖W_t‖_F^(1/2^t) with the scales
put back. It is an upper bound of the layer's norm (exact only in the limit), computed in
complex128.

    /usr/bin/python3 bench/gram_iteration_peer.py TASKS.json

TASKS.json: [{"path": "kernel.npy", "h": 16, "w": 16, "iters": 6, "runs": 9}, ...]. Prints one
JSON list of {"ms": median milliseconds, "bound": float, "torch": version} per task, with
torch on one thread (the screening bench is one thread); after ~0.3 s of untimed calls (at
least one, as the screening bench warms ours); a call over 1 s is timed 3 times.
"""
import json
import statistics
import sys
import time

import numpy as np
import torch


def gram_iteration_bound(k, h, w, iters):
    c_out, c_in, kh, kw = k.shape
    padded = torch.nn.functional.pad(k, (0, w - kw, 0, h - kh))
    m = torch.fft.rfft2(padded).permute(2, 3, 0, 1)  # (h, w//2 + 1, c_out, c_in)
    if c_out < c_in:
        m = m.transpose(-1, -2)
    log_scale = torch.zeros(m.shape[:2], dtype=torch.float64)
    for _ in range(iters):
        norm = torch.linalg.matrix_norm(m, keepdim=True)
        m = m / norm
        log_scale = 2 * (log_scale + torch.log(norm[..., 0, 0]))
        m = m.transpose(-1, -2).conj() @ m
    log_scale = log_scale + torch.log(torch.linalg.matrix_norm(m))
    return float(torch.exp(log_scale / 2 ** iters).max())


# Untimed calls for about this long before the timed ones (at least one).
WARM_S = 0.3


def main():
    torch.set_num_threads(1)
    out = []
    with open(sys.argv[1]) as f:
        tasks = json.load(f)
    for task in tasks:
        k = torch.from_numpy(np.load(task["path"]).astype(np.float64))
        h, w, iters = task["h"], task["w"], task.get("iters", 6)
        start = time.perf_counter()
        bound = gram_iteration_bound(k, h, w, iters)
        first = (time.perf_counter() - start) * 1e3
        while time.perf_counter() - start < WARM_S:
            gram_iteration_bound(k, h, w, iters)
        # Over a second per call: 3 timed runs are enough (the median of the run-to-run noise, not of minutes).
        times = []
        for _ in range(task.get("runs", 9) if first < 1000 else 3):
            start = time.perf_counter()
            gram_iteration_bound(k, h, w, iters)
            times.append((time.perf_counter() - start) * 1e3)
        out.append({"ms": statistics.median(times), "bound": bound, "torch": torch.__version__})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
