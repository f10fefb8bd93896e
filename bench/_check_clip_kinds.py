#!/usr/bin/env python3
"""An independent check of bench/peers.py's clipping rounds for layer kinds.

    python3 bench/_check_clip_kinds.py        (numpy; torch too where it imports)

For small strided, grouped, depthwise and 3-D circular layers it builds the
layer's explicit matrix A (rows: output channel and position on the n/s grid;
columns: input channel and position), takes its full SVD, clips the singular
values at half the norm, and projects the clipped matrix back onto the
layer's kernels: each tap is the mean of the entries of A' that hold it (the
orthogonal projection onto the subspace of such layers, since every tap
appears once per output position). numpy_clip_kinds and torch_clip_kinds
must agree with it to 1e-10 relative to the largest tap, with either
transform ("dft", "fft"). Exits 1 otherwise.
"""

import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def positions(k_shape, grid, s, g):
    """(output channel, input channel, tap, the (row, column) of A of each position)."""
    co, cig = k_shape[:2]
    taps = k_shape[2:]
    out_grid = tuple(n // s for n in grid)
    cog = co // g
    for o in range(co):
        i0 = (o // cog) * cig
        for il in range(cig):
            for tap in itertools.product(*[range(t) for t in taps]):
                cells = []
                for pos in itertools.product(*[range(x) for x in out_grid]):
                    src = tuple((s * p + a) % n for p, a, n in zip(pos, tap, grid))
                    cells.append(((o,) + pos, (i0 + il,) + src))
                yield o, il, tap, cells


def dense(k, grid, s, g):
    co, cig = k.shape[:2]
    out_grid = tuple(n // s for n in grid)
    a = np.zeros((co,) + out_grid + (cig * g,) + tuple(grid))
    for o, il, tap, cells in positions(k.shape, grid, s, g):
        for r, c in cells:
            a[r + c] += k[(o, il) + tap]
    return a.reshape(co * int(np.prod(out_grid)), -1), a.shape


def project(a, shape6, k_shape, grid, s, g):
    a = a.reshape(shape6)
    k = np.zeros(k_shape)
    for o, il, tap, cells in positions(k_shape, grid, s, g):
        k[(o, il) + tap] = np.mean([a[r + c] for r, c in cells])
    return k


CASES = [  # c_out, c_in, grid, stride, groups
    (4, 2, (8, 8), 2, 1),
    (4, 4, (8, 6), 2, 2),
    (3, 3, (6, 6), 1, 3),  # depthwise
    (4, 4, (6, 6), 2, 4),  # depthwise, stride 2
    (6, 4, (8, 8), 1, 2),
    (3, 2, (9, 9), 3, 1),
    (2, 3, (4, 4, 4), 1, 1),  # 3-D
    (2, 2, (4, 4, 6), 2, 1),  # 3-D, stride 2
]


def main():
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(1)
    worst = 0.0
    for co, ci, grid, s, g in CASES:
        k_shape = (co, ci // g) + (3,) * len(grid)
        k = rng.uniform(-1, 1, k_shape)
        a, shape6 = dense(k, grid, s, g)
        u, d, vh = np.linalg.svd(a, full_matrices=False)
        c = 0.5 * d[0]
        ref = project((u * np.minimum(d, c)) @ vh, shape6, k_shape, grid, s, g)
        errs = []
        for name, lib, fn in [("numpy", np, peers.numpy_clip_kinds), ("torch", torch, peers.torch_clip_kinds)]:
            if lib is None:
                continue
            for transform in ("dft", "fft"):
                run, finish = fn(lib, k, grid, s, g, c, transform)
                e = float(np.abs(finish(run()) - ref).max() / np.abs(ref).max())
                worst = max(worst, e)
                errs.append("%s %s %.1e" % (name, transform, e))
        print("%d -> %d on %s, stride %d, groups %d: %s" % (ci, co, "x".join(map(str, grid)), s, g, ", ".join(errs)))
    print("numpy %s%s: worst %.1e (limit 1e-10)" % (np.__version__, ", torch " + torch.__version__ if torch else "", worst))
    return 0 if worst <= 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
