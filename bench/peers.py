#!/usr/bin/env python3
"""Peers for bench/bench.ts: what users would otherwise run, timed case by case.

Usage:
    python3 bench/peers.py PEER [TASKS_JSON] [--threads 1,2] [--budget-s S]
                                [--min-reps N] [--slow-s S] [--seed N]
                                [--out-dir DIR]
(--worker, --cutoffs and --limits are for the script's own worker processes.)

PEER is `numpy` or `torch`. TASKS_JSON (or standard input when it is absent)
is a JSON list of tasks, each an object
    {"task", "id", "h", "w", "c_in", "c_out", "k" (or "kh", "kw"),
     "stride" (default 1), "groups" (default 1), "clip_to" (clip only),
     "d" (clip only: a 3-D layer on a d x h x w input, cubic k taps),
     "transform" (clip of the other kinds: "dft", the default, or "fft"),
     "reps" (the most timed runs), "beat_ms" (optional: the best time
     another peer already took on this task)}
The kernel is PyTorch's OIHW weight, shape (c_out, c_in / groups, kh, kw),
built by kernel_oihw (below) bit for bit as bench/bench.ts builds it (3-D:
OIDHW, the same generator over its flat index).

Tasks (each timed call is what a user writes, from the kernel to the result):
    sv     the layer's singular values.
           numpy: the paper's code (Sedghi, Gupta & Long, ICLR 2019) on the
           TensorFlow-layout (HWIO) kernel:
               np.linalg.svd(np.fft.fft2(kernel, input_shape, axes=[0, 1]),
                             compute_uv=False)
           torch: torch.linalg.svdvals of torch.fft.fft2(K_oihw, s=(h, w))
           viewed as (h, w, c_out, c_in), float64 / complex128.
           Layer kinds (DESIGN.md section 3), in both: a stride s is the
           phase split (tap a = s*a' + p becomes input channel (i, p, q) of a
           stride-1 layer on the (h/s) x (w/s) grid); groups g split the
           channels into g independent blocks, batched as one more axis;
           depthwise (one input and one output channel per group) is
           |fft2| of each channel's filter, with no SVD at all.
    clip   one round of the paper's projection (its Appendix A): transform,
           full SVD (compute_uv, full_matrices=False), singular values
           clipped at clip_to, rebuild by scaling the smaller factor, inverse
           transform, real part, crop to the kernel's taps. numpy on HWIO as
           the paper publishes it; torch is a port of it on OIHW in
           complex128. With --out-dir the clipped kernel (OIHW, float64,
           little-endian, row-major) is written to DIR/<PEER>-<id>.f64.
           Other layer kinds (a stride, groups, depthwise, "d"; used by
           bench/clip_kinds.ts): practical_svd_conv's phase-split round in
           numpy and torch (numpy_clip_kinds / torch_clip_kinds): the
           stride-1 kernel of the phase split on the n/s grid, rfftn,
           batched SVD per frequency and group (depthwise: P * min(1, c/|P|)
           elementwise, no SVD), clip, rebuild, irfftn, cut to the split
           kernel's taps, back to the kernel's taps. "transform": "fft"
           runs np.fft / torch.fft's rfftn and irfftn; "dft" (default) the
           same transforms as direct DFTs over the taps (faster at 3x3).
    dense  (numpy only) the paper's section 4.1 baseline:
           np.linalg.svd(A, compute_uv=False) of the layer's explicit
           (c_out*h*w) x (c_in*h*w) matrix, built (untimed) from the kernel.

For each thread count T in --threads the script runs itself again as a worker
in a fresh process with OPENBLAS_NUM_THREADS = OMP_NUM_THREADS =
MKL_NUM_THREADS = T (set before numpy is imported) and, for torch,
torch.set_num_threads(T). For numpy >= 2 the worker's environment also loses
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (they can slow a current OpenBLAS
down); only that subprocess's environment changes.

Timing, per task and thread count: one warm-up run, then
min(reps, max(min_reps, budget / warm-up)) timed runs (time.perf_counter),
reported as their median. A warm-up of at least --slow-s seconds (default 1)
is a steady-state run already (nothing is left to warm at that size), so it
counts as the first of the timed runs ("warm_counted"); from VERY_SLOW times
that, two runs in all are taken (the warm-up and one more): this saves
minutes on the largest clipping cases (torch takes ~40 s per round at 7x7,
512 -> 512). The driver keeps, per task, the faster thread count.

Only the fastest peer matters to the caller's ratios, so slower runs are cut
short. With a best time known for a task (an earlier thread count's median,
or "beat_ms" from another peer): a run whose warm-up (or, when the warm-up is
short and may hold first-call costs, its first timed run) is already slower
(CUTOFF_FACTOR) cannot be the fastest, so it is not timed further and that
one run is reported ("cut", reps 0); any single run that passes STOP_FACTOR x
that best time + STOP_SLACK_MS is stopped by a watchdog thread (numpy and
torch release the GIL inside LAPACK): the worker reports what it has and
exits, the driver starts a new worker for the remaining tasks, and the task
gets that wait as a lower bound ("stopped"). Both save minutes: torch 1.13
takes ~40 s per clipping round at 7x7, 512 -> 512 where numpy 2.x takes ~11,
and 2 threads can oversubscribe a loaded 2-core machine.

Standard output: one JSON object
    {"peer", "python", "executable", "numpy", "torch", "blas",
     "openblas_env_unset",
     "results": [{"task", "id", "h", "w", "c_in", "c_out", "kh", "kw",
                  "stride", "groups", "ms", "threads", "ms_by_threads",
                  "reps_by_threads", "cut", "stopped", "stopped_threads",
                  "warm_counted", "warmup_ms",
                  ... and per task: "sigma_max", "sum_sq", "count" (sv,
                  dense; from the peer's own result), "kernel_norm" and
                  "file" (clip), "build_ms" (dense)}]}

Kernel generator (shared bit for bit with bench/bench.ts): element n of the
row-major OIHW kernel is
    x = (n * 0x9E3779B9 + seed) mod 2^32, then a 32-bit mixing finaliser
    (x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13; x *= 0xC2B2AE35;
     x ^= x >> 16, products mod 2^32),
    value = (x + 0.5) * 2^-31 - 1,  uniform in (-1, 1), exact in float64.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# A later thread count whose warm-up is this many times slower than an earlier
# count's median is not timed further (its warm-up time is reported, reps 0).
CUTOFF_FACTOR = 1.0
# A run that passes STOP_FACTOR x the best time known for its task (another
# thread count's or another peer's) plus STOP_SLACK_MS is stopped: the peer
# then reports that wait as a lower bound ("stopped").
STOP_FACTOR = 2.0
STOP_SLACK_MS = 1000.0
# A warm-up of VERY_SLOW x --slow-s or more: two runs in all (the warm-up and one more).
VERY_SLOW = 4.0
DEFAULT_SEED = 20190506
TASKS = ("sv", "clip", "dense")


def kernel_oihw(np, c_out, c_in, kh, kw, seed):
    """The case's kernel, float64, OIHW, from the counter hash in the module doc."""
    n = c_out * c_in * kh * kw
    u32 = np.uint32
    with np.errstate(over="ignore"):
        x = np.arange(n, dtype=np.uint64).astype(u32)
        x = x * u32(0x9E3779B9) + u32(seed & 0xFFFFFFFF)
        x ^= x >> u32(16)
        x *= u32(0x85EBCA6B)
        x ^= x >> u32(13)
        x *= u32(0xC2B2AE35)
        x ^= x >> u32(16)
    values = (x.astype(np.float64) + 0.5) * (2.0 ** -31) - 1.0
    return values.reshape(c_out, c_in, kh, kw)


def blas_info():
    """Which BLAS/LAPACK libraries this process loaded (and OpenBLAS's kernel)."""
    try:
        import threadpoolctl  # noqa: F401  (not installed on purpose; used if present)

        return [
            {
                "lib": os.path.basename(d.get("filepath", "")),
                "api": d.get("internal_api"),
                "version": d.get("version"),
                "corename": d.get("architecture"),
                "threads": d.get("num_threads"),
                "source": "threadpoolctl",
            }
            for d in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path).lower()
                if path.startswith("/") and any(s in name for s in ("blas", "lapack", "mkl")):
                    if path not in libs:
                        libs.append(path)
    except OSError:
        return []
    out = []
    for path in libs:
        entry = {"lib": os.path.basename(path), "source": "/proc/self/maps"}
        if "openblas" in os.path.basename(path).lower():
            # OpenBLAS exports its core name under a prefix/suffix that depends
            # on the build (plain, 64-bit-int "64_", or scipy-openblas's).
            try:
                import ctypes

                lib = ctypes.CDLL(path)
                for prefix in ("openblas", "scipy_openblas"):
                    for suffix in ("", "64_"):
                        for what in ("corename", "config"):
                            sym = "%s_get_%s%s" % (prefix, what, suffix)
                            fn = getattr(lib, sym, None)
                            if fn is not None and what not in entry:
                                fn.restype = ctypes.c_char_p
                                entry[what] = fn().decode(errors="replace").strip()
            except OSError:
                pass
        out.append(entry)
    return out


def task_dims(task):
    """(h, w, c_in, c_out, kh, kw, stride, groups) of a task, checked."""
    h, w = int(task["h"]), int(task["w"])
    c_in, c_out = int(task["c_in"]), int(task["c_out"])
    kh = int(task.get("kh", task.get("k", 3)))
    kw = int(task.get("kw", task.get("k", 3)))
    s = int(task.get("stride", 1))
    g = int(task.get("groups", 1))
    if h % s or w % s:
        raise SystemExit("stride %d does not divide %dx%d" % (s, h, w))
    if c_in % g or c_out % g:
        raise SystemExit("groups %d do not divide %d -> %d" % (g, c_in, c_out))
    return h, w, c_in, c_out, kh, kw, s, g


def task_depth(task):
    """The depth d of a 3-D task ("d", with h, w and cubic kh = kw taps), or None for 2-D."""
    if task.get("d") is None:
        return None
    d = int(task["d"])
    h, w, _, _, kh, kw, s, _ = task_dims(task)
    if d % s:
        raise SystemExit("stride %d does not divide depth %d" % (s, d))
    if kh != kw:
        raise SystemExit("3-D tasks take cubic kernels (k)")
    return d


# ---------------------------------------------------------------- numpy peers

def np_phase_split(np, k_oihw, s):
    """Stride s as a stride-1 layer: HWIO kernel (ceil(kh/s), ceil(kw/s), c_in*s*s, c_out).

    Tap a = s*a' + p of input channel i becomes tap a' of input channel
    (i, p, q), i.e. index i*s*s + p*s + q (so each group's channels stay
    contiguous). Taps past the kernel are zero.
    """
    co, ci, kh, kw = k_oihw.shape
    ah, aw = -(-kh // s), -(-kw // s)
    padded = np.zeros((co, ci, ah * s, aw * s))
    padded[:, :, :kh, :kw] = k_oihw
    # (o, i, a', p, b', q) -> (a', b', i, p, q, o)
    return padded.reshape(co, ci, ah, s, aw, s).transpose(2, 4, 1, 3, 5, 0).reshape(ah, aw, ci * s * s, co)


def numpy_sv(np, k_oihw, h, w, s, g):
    if s == 1 and g == 1:
        # The paper's code verbatim, on the kernel TensorFlow would hold.
        kernel = np.ascontiguousarray(k_oihw.transpose(2, 3, 1, 0))
        input_shape = (h, w)

        def run():
            transforms = np.fft.fft2(kernel, input_shape, axes=[0, 1])
            return np.linalg.svd(transforms, compute_uv=False)

        return run
    co = k_oihw.shape[0]
    co_g = co // g

    def run():
        kernel = np_phase_split(np, k_oihw, s) if s > 1 else k_oihw.transpose(2, 3, 1, 0)
        ci_g = kernel.shape[2]  # input channels per group, phases included
        transforms = np.fft.fft2(kernel, (h // s, w // s), axes=[0, 1])
        if g == 1:
            return np.linalg.svd(transforms, compute_uv=False)
        if ci_g == 1 and co_g == 1:
            return np.abs(transforms)  # depthwise: each 1x1 block is its own singular value
        # (h', w', ci_g, g * co_g) -> (h', w', g, ci_g, co_g): one matrix per group
        blocks = transforms.reshape(h // s, w // s, ci_g, g, co_g).transpose(0, 1, 3, 2, 4)
        return np.linalg.svd(blocks, compute_uv=False)

    return run


def numpy_clip(np, k_oihw, h, w, clip_to):
    """The paper's Appendix A round on the HWIO kernel, as published."""
    kernel = np.ascontiguousarray(k_oihw.transpose(2, 3, 1, 0))
    kh, kw, c_in, c_out = kernel.shape

    def run():
        transforms = np.fft.fft2(kernel, (h, w), axes=[0, 1])
        u, d, vh = np.linalg.svd(transforms, compute_uv=True, full_matrices=False)
        d = np.minimum(d, clip_to)
        # Rebuild u diag(d) vh, scaling whichever factor is smaller.
        if c_in > c_out:
            rebuilt = np.matmul(u, d[..., :, None] * vh)
        else:
            rebuilt = np.matmul(u * d[..., None, :], vh)
        full = np.fft.ifft2(rebuilt, axes=[0, 1]).real
        return full[:kh, :kw]

    # HWIO -> OIHW for the caller's comparison (outside the timed run)
    return run, lambda r: np.ascontiguousarray(r.transpose(3, 2, 0, 1))


def phase_split_nd(xp, k, s, permute):
    """(c_out, c_in/g, k_1..k_D) -> the stride-1 kernel (c_out, c_in/g * s^D, a_1..a_D), a_j = ceil(k_j / s).

    Tap s*a' + p of axis j becomes tap a' of phase p; input channel i with
    phases (p_1..p_D) becomes channel (i, p_1, .., p_D), row-major. Taps past
    the kernel are zero. `permute(x, axes)` is numpy's transpose or torch's
    permute. Returns (split, a).
    """
    co, ci = k.shape[:2]
    ks = k.shape[2:]
    dims = len(ks)
    a = [-(-kk // s) for kk in ks]
    if s == 1:
        return k, a
    full = xp.zeros((co, ci) + tuple(x * s for x in a), dtype=k.dtype)
    full[(slice(None), slice(None)) + tuple(slice(0, kk) for kk in ks)] = k
    # (o, i, a_1, p_1, .., a_D, p_D) -> (o, i, p_1..p_D, a_1..a_D)
    x = full.reshape((co, ci) + tuple(v for aj in a for v in (aj, s)))
    x = permute(x, (0, 1) + tuple(3 + 2 * j for j in range(dims)) + tuple(2 + 2 * j for j in range(dims)))
    return x.reshape((co, ci * s ** dims) + tuple(a)), a


def phase_merge_nd(xp, split, k_shape, s, permute):
    """The inverse of phase_split_nd on the cut kernel: back to k_shape, taps past the kernel dropped."""
    co, ci = k_shape[:2]
    ks = k_shape[2:]
    dims = len(ks)
    a = list(split.shape[2:])
    if s == 1:
        return split[(slice(None), slice(None)) + tuple(slice(0, kk) for kk in ks)]
    x = split.reshape((co, ci) + (s,) * dims + tuple(a))
    # (o, i, p_1..p_D, a_1..a_D) -> (o, i, a_1, p_1, .., a_D, p_D)
    order = [0, 1]
    for j in range(dims):
        order += [2 + dims + j, 2 + j]
    x = permute(x, tuple(order)).reshape((co, ci) + tuple(aj * s for aj in a))
    return x[(slice(None), slice(None)) + tuple(slice(0, kk) for kk in ks)]


def tap_dft_matrices(np, a, grid):
    """Direct DFTs between D axes of taps a_j and the frequencies of rfftn on grid (the last axis halved).

    Forward, per axis: F[t, u] = exp(-2 pi i u t / n), u < n (last axis: u <= n/2), so
    rfftn(x, grid)[.., u] = x @ F along each axis. Back to the taps: B[u, t] =
    w_u exp(2 pi i u t / n) / n with w = 1, except 2 on the last axis for the
    frequencies that stand for their conjugate too (0 < u < n/2); the real part
    of the result is irfftn(X, grid)[:a_1, .., :a_D] (irfftn also drops the
    imaginary parts of the last axis's u = 0 and n/2 terms). For 3x3 taps these
    small matrix products are cheaper than an FFT over the whole grid.
    """
    fwd, inv = [], []
    dims = len(grid)
    for j, (aj, n) in enumerate(zip(a, grid)):
        m = n // 2 + 1 if j == dims - 1 else n
        u = np.arange(m)
        t = np.arange(aj)
        fwd.append(np.exp(-2j * np.pi * np.outer(t, u) / n))
        w = np.ones(m)
        if j == dims - 1:
            w[1:] = 2.0
            if n % 2 == 0:
                w[-1] = 1.0
        inv.append((w[:, None] * np.exp(2j * np.pi * np.outer(u, t) / n)) / n)
    return fwd, inv


def along_axes(x, mats, movedim):
    """x (c_out, c_in, *axes): multiply spatial axis j by mats[j] (axis j's index first)."""
    for j, m in enumerate(mats):
        x = movedim(movedim(x, 2 + j, -1) @ m, -1, 2 + j)
    return x


def numpy_clip_kinds(np, k, grid, s, g, clip_to, transform="dft"):
    """One clipping round of a strided / grouped / depthwise / 3-D circular layer, numpy.

    k: PyTorch's weight (c_out, c_in/g, k_1..k_D), D = 2 or 3, float64; grid:
    the input's spatial shape. The round (practical_svd_conv's phase split,
    the paper's Appendix A on it): the stride-1 kernel K' of phase_split_nd
    on the grid n/s; rfftn over its D spatial axes (Hermitian symmetry: the
    last axis keeps n/(2s) + 1 frequencies, the others are conjugates); per
    frequency and group the (c_out/g) x (c_in/g * s^D) matrix: full SVD
    (full_matrices=False), singular values clipped at clip_to, rebuilt
    scaling the smaller factor; depthwise (1 x 1 matrices) is
    P * min(1, clip_to / |P|) = P * clip_to / max(|P|, clip_to),
    elementwise, with no SVD call. Then irfftn,
    cut to K' taps, back to K's taps (K' entries that are no tap of K are
    dropped). transform "fft": np.fft.rfftn / irfftn as practical_svd_conv
    (with fft2) does; "dft" (default, faster for 3x3 taps): the same two
    transforms as direct DFTs over the taps (tap_dft_matrices).
    """
    co = k.shape[0]
    dims = len(grid)
    transpose = lambda x, axes: x.transpose(axes)
    gsmall = tuple(n // s for n in grid)
    axes = tuple(range(2, 2 + dims))
    co_g = co // g
    a = [-(-kk // s) for kk in k.shape[2:]]
    fwd, inv = tap_dft_matrices(np, a, gsmall)

    def run():
        split, a = phase_split_nd(np, k, s, transpose)
        cin = split.shape[1]  # input channels of a group, phases included
        if transform == "fft":
            p = np.fft.rfftn(split, gsmall, axes=axes)  # (c_out, cin, *half)
        else:
            p = along_axes(split, fwd, np.moveaxis)
        half = p.shape[2:]
        if cin == 1 and co_g == 1:
            # P * min(1, r / |P|) = P * r / max(|P|, r): one pass less, no division by zero
            mag = np.abs(p)
            np.maximum(mag, clip_to, out=mag)
            np.divide(clip_to, mag, out=mag)
            p *= mag
        else:
            # (g, co_g, cin, *half) -> (*half, g, co_g, cin)
            blocks = p.reshape((g, co_g, cin) + half)
            blocks = blocks.transpose(tuple(range(3, 3 + dims)) + (0, 1, 2))
            u, d, vh = np.linalg.svd(blocks, full_matrices=False)
            d = np.minimum(d, clip_to)
            if co_g > cin:
                rebuilt = np.matmul(u, d[..., :, None] * vh)
            else:
                rebuilt = np.matmul(u * d[..., None, :], vh)
            p = rebuilt.transpose((dims, dims + 1, dims + 2) + tuple(range(dims))).reshape((co, cin) + half)
        if transform == "fft":
            full = np.fft.irfftn(p, gsmall, axes=axes)
            cut = full[(slice(None), slice(None)) + tuple(slice(0, aj) for aj in a)]
        else:
            cut = along_axes(p, inv, np.moveaxis).real
        return phase_merge_nd(np, np.ascontiguousarray(cut), k.shape, s, transpose)

    return run, lambda r: np.ascontiguousarray(r)


def dense_matrix(np, k_oihw, h, w):
    """The circular layer's explicit matrix: rows (o, x, y), columns (i, x', y')."""
    co, ci, kh, kw = k_oihw.shape
    a6 = np.zeros((co, h, w, ci, h, w))
    for x in range(h):
        for y in range(w):
            for a in range(kh):
                for b in range(kw):
                    a6[:, x, y, :, (x + a) % h, (y + b) % w] += k_oihw[:, :, a, b]
    return a6.reshape(co * h * w, ci * h * w)


# ---------------------------------------------------------------- torch peers

def torch_sv(torch, k_oihw, h, w, s, g):
    kt = torch.from_numpy(k_oihw.copy())  # float64, OIHW
    co, ci, kh, kw = kt.shape
    if s == 1 and g == 1:
        def run():
            return torch.linalg.svdvals(torch.fft.fft2(kt, s=(h, w)).permute(2, 3, 0, 1))

        return run
    ah, aw = -(-kh // s), -(-kw // s)
    co_g = co // g

    def run():
        k = kt
        if s > 1:
            # (o, i, a', p, b', q) -> (o, (i, p, q), a', b'): the phase split
            k = torch.nn.functional.pad(k, (0, aw * s - kw, 0, ah * s - kh))
            k = k.reshape(co, ci, ah, s, aw, s).permute(0, 1, 3, 5, 2, 4).reshape(co, ci * s * s, ah, aw)
        t = torch.fft.fft2(k, s=(h // s, w // s))  # (co, ci_g, h', w')
        ci_g = t.shape[1]
        if g == 1:
            return torch.linalg.svdvals(t.permute(2, 3, 0, 1))
        if ci_g == 1 and co_g == 1:
            return t.abs()
        blocks = t.reshape(g, co_g, ci_g, h // s, w // s).permute(3, 4, 0, 1, 2)
        return torch.linalg.svdvals(blocks)

    return run


def torch_clip(torch, k_oihw, h, w, clip_to):
    """A port of the paper's round to PyTorch: OIHW kernel, complex128."""
    kt = torch.from_numpy(k_oihw.copy())
    co, ci, kh, kw = kt.shape

    def run():
        t = torch.fft.fft2(kt, s=(h, w)).permute(2, 3, 0, 1)  # (h, w, c_out, c_in)
        u, d, vh = torch.linalg.svd(t, full_matrices=False)
        d = torch.clamp(d, max=clip_to).to(t.dtype)
        if co > ci:
            rebuilt = u @ (d.unsqueeze(-1) * vh)
        else:
            rebuilt = (u * d.unsqueeze(-2)) @ vh
        full = torch.fft.ifft2(rebuilt.permute(2, 3, 0, 1)).real
        return full[:, :, :kh, :kw]

    return run, lambda r: r.contiguous().numpy()


def torch_clip_kinds(torch, k, grid, s, g, clip_to, transform="dft"):
    """numpy_clip_kinds's round in PyTorch (complex128; torch.fft.rfftn / irfftn or the direct DFTs; torch.linalg.svd)."""
    import numpy as np
    kt = torch.from_numpy(k.copy())
    co = kt.shape[0]
    dims = len(grid)
    permute = lambda x, axes: x.permute(*axes)
    gsmall = tuple(n // s for n in grid)
    axes = tuple(range(2, 2 + dims))
    co_g = co // g
    a = [-(-kk // s) for kk in k.shape[2:]]
    fwd, inv = tap_dft_matrices(np, a, gsmall)
    fwd = [torch.from_numpy(m) for m in fwd]
    inv = [torch.from_numpy(m) for m in inv]

    def run():
        split, a = phase_split_nd(torch, kt, s, permute)
        cin = split.shape[1]
        if transform == "fft":
            p = torch.fft.rfftn(split, s=gsmall, dim=axes)
        else:
            p = along_axes(split.to(torch.complex128), fwd, torch.movedim)
        half = tuple(p.shape[2:])
        if cin == 1 and co_g == 1:
            p *= clip_to / torch.clamp(p.abs(), min=clip_to)
        else:
            blocks = p.reshape((g, co_g, cin) + half).permute(*(tuple(range(3, 3 + dims)) + (0, 1, 2)))
            u, d, vh = torch.linalg.svd(blocks, full_matrices=False)
            d = torch.clamp(d, max=clip_to).to(blocks.dtype)
            if co_g > cin:
                rebuilt = u @ (d.unsqueeze(-1) * vh)
            else:
                rebuilt = (u * d.unsqueeze(-2)) @ vh
            p = rebuilt.permute(*((dims, dims + 1, dims + 2) + tuple(range(dims)))).reshape((co, cin) + half)
        if transform == "fft":
            full = torch.fft.irfftn(p, s=gsmall, dim=axes)
            cut = full[(slice(None), slice(None)) + tuple(slice(0, aj) for aj in a)].contiguous()
        else:
            cut = along_axes(p, inv, torch.movedim).real.contiguous()
        return phase_merge_nd(torch, cut, tuple(kt.shape), s, permute)

    return run, lambda r: r.contiguous().numpy()


# ------------------------------------------------------------------ worker

def make_runner(peer, task, seed):
    """(run, finish): run() computes the task; finish(result) summarises it."""
    import numpy as np

    kind = task.get("task", "sv")
    h, w, c_in, c_out, kh, kw, s, g = task_dims(task)
    depth = task_depth(task)
    if depth is None:
        k = kernel_oihw(np, c_out, c_in // g, kh, kw, seed)
    else:
        # 3-D: the same generator over the OIDHW kernel's flat index (cubic taps kh)
        if kind != "clip":
            raise SystemExit("task %s takes 2-D layers only (no \"d\")" % kind)
        k = kernel_oihw(np, c_out, c_in // g, kh * kh, kh, seed).reshape(c_out, c_in // g, kh, kh, kh)
    extra = {}

    def values(r):
        a = np.asarray(r if peer == "numpy" else r.numpy())
        return {"sigma_max": float(a.max()), "sum_sq": float((a * a).sum()), "count": int(a.size)}

    if kind == "sv":
        run = numpy_sv(np, k, h, w, s, g) if peer == "numpy" else torch_sv(_torch(), k, h, w, s, g)
        return run, values, extra
    if kind == "clip" and (s != 1 or g != 1 or depth is not None):
        # The other layer kinds: the phase-split round (numpy_clip_kinds), OIHW / OIDHW in and out.
        clip_to = float(task["clip_to"])
        grid = (h, w) if depth is None else (depth, h, w)
        transform = task.get("transform", "dft")
        if transform not in ("dft", "fft"):
            raise SystemExit("transform %r (want dft or fft)" % transform)
        if peer == "numpy":
            run, to_oihw = numpy_clip_kinds(np, k, grid, s, g, clip_to, transform)
        else:
            run, to_oihw = torch_clip_kinds(_torch(), k, grid, s, g, clip_to, transform)

        def finish_kinds(r):
            out = to_oihw(r)
            return {"kernel_norm": float(np.sqrt((out * out).sum())), "array": out}

        return run, finish_kinds, extra
    if s != 1 or g != 1:
        raise SystemExit("task %s takes stride 1 and groups 1 only" % kind)
    if kind == "dense":
        if peer != "numpy":
            raise SystemExit("task dense runs under numpy only")
        t0 = time.perf_counter()
        a = dense_matrix(np, k, h, w)
        extra["build_ms"] = (time.perf_counter() - t0) * 1e3
        extra["size"] = list(a.shape)
        return (lambda: np.linalg.svd(a, compute_uv=False)), values, extra
    if kind == "clip":
        clip_to = float(task["clip_to"])
        if peer == "numpy":
            run, to_oihw = numpy_clip(np, k, h, w, clip_to)
        else:
            run, to_oihw = torch_clip(_torch(), k, h, w, clip_to)

        def finish(r):
            out = to_oihw(r)
            return {"kernel_norm": float(np.sqrt((out * out).sum())), "array": out}

        return run, finish, extra
    raise SystemExit("unknown task %r (want one of %s)" % (kind, ", ".join(TASKS)))


def _torch():
    import torch

    return torch


class Watchdog:
    """Runs one timed call; if it passes its limit, `on_stop(limit_s)` ends the process.

    numpy's and torch's kernels release the GIL, so the timer thread fires
    while LAPACK is still busy. The lock makes "finished in time" and
    "stopped" exclusive.
    """

    def __init__(self, on_stop):
        self.on_stop = on_stop
        self.lock = threading.Lock()

    def call(self, fn, limit_s):
        if limit_s is None:
            t0 = time.perf_counter()
            r = fn()
            return r, time.perf_counter() - t0
        done = [False]

        def fire():
            with self.lock:
                if not done[0]:
                    self.on_stop(limit_s)

        timer = threading.Timer(limit_s, fire)
        timer.daemon = True
        timer.start()
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
        with self.lock:
            done[0] = True
        timer.cancel()
        return r, dt


def describe(task, index):
    h, w, c_in, c_out, kh, kw, s, g = task_dims(task)
    out = {"task": task.get("task", "sv"), "id": task.get("id", index),
           "h": h, "w": w, "c_in": c_in, "c_out": c_out, "kh": kh, "kw": kw,
           "stride": s, "groups": g}
    if task.get("d") is not None:
        out["d"] = int(task["d"])
    return out


def worker(peer, tasks, threads, opts, emit):
    """Times each task; `emit(results, stopped_index)` prints the worker's JSON."""
    if peer == "torch":
        _torch().set_num_threads(threads)
    results = []
    cutoffs = opts["cutoffs"] or [None] * len(tasks)
    limits = opts["limits"] or [None] * len(tasks)
    current = {"index": 0}

    def on_stop(limit_s):
        i = current["index"]
        entry = describe(tasks[i], i)
        entry.update({"ms": limit_s * 1e3, "reps": 0, "stopped": True})
        emit(results + [entry], i)
        sys.stdout.flush()
        os._exit(0)

    dog = Watchdog(on_stop)
    for index, task in enumerate(tasks):
        current["index"] = index
        limit_s = None if limits[index] is None else limits[index] / 1e3
        run, finish, extra = make_runner(peer, task, opts["seed"])
        r, warm = dog.call(run, limit_s)  # warm-up, and the values for the caller's check
        summary = finish(r)
        array = summary.pop("array", None)
        if array is not None and opts["out_dir"]:
            path = os.path.join(opts["out_dir"], "%s-%s.f64" % (peer, task.get("id", index)))
            array.astype("<f8").tofile(path)
            summary["file"] = path
        max_reps = max(1, int(task.get("reps", 5)))
        reps = min(max_reps, max(opts["min_reps"], int(opts["budget_s"] / max(warm, 1e-9))))
        times = []
        warm_counted = warm >= opts["slow_s"]
        if warm_counted:
            times.append(warm * 1e3)
            reps -= 1
            if warm >= VERY_SLOW * opts["slow_s"]:
                reps = min(reps, 1)  # two runs in all
        cutoff = cutoffs[index]
        cut = False
        if cutoff is not None:
            probe = warm
            if not warm_counted:
                # A short warm-up holds first-call costs: compare a second run.
                _, probe = dog.call(run, limit_s)
                times.append(probe * 1e3)
                reps -= 1
            if probe * 1e3 > CUTOFF_FACTOR * cutoff:
                # Already slower than another thread count or peer was: that
                # one wins anyway, so report this run alone and save the rest.
                cut = True
                reps = 0
                times = [probe * 1e3]
        for _ in range(reps):
            _, dt = dog.call(run, limit_s)
            times.append(dt * 1e3)
        res = describe(task, index)
        res.update({"ms": statistics.median(times), "reps": 0 if cut else len(times), "cut": cut,
                    "warmup_ms": warm * 1e3, "warm_counted": warm_counted})
        res.update(summary)
        res.update(extra)
        results.append(res)
    emit(results, None)


def versions(peer):
    out = {"python": sys.version.split()[0], "executable": sys.executable}
    import numpy as np

    out["numpy"] = np.__version__
    if peer == "torch":
        out["torch"] = _torch().__version__
    return out


def parse_args(argv):
    opts = {"threads": [1, 2], "budget_s": 1.0, "min_reps": 3, "slow_s": 1.0, "seed": DEFAULT_SEED,
            "out_dir": None, "worker": False, "peer": None, "tasks": None, "cutoffs": None, "limits": None}
    valued = ("--threads", "--budget-s", "--min-reps", "--slow-s", "--seed", "--cutoffs", "--limits", "--out-dir")
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in valued and i + 1 < len(argv):
            v = argv[i + 1]
            i += 1
            if a == "--threads":
                opts["threads"] = [int(t) for t in v.split(",") if t]
            elif a == "--budget-s":
                opts["budget_s"] = float(v)
            elif a == "--slow-s":
                opts["slow_s"] = float(v)
            elif a == "--cutoffs":
                opts["cutoffs"] = json.loads(v)
            elif a == "--limits":
                opts["limits"] = json.loads(v)
            elif a == "--min-reps":
                opts["min_reps"] = int(v)
            elif a == "--out-dir":
                opts["out_dir"] = v
            else:
                opts["seed"] = int(v)
        elif a == "--worker":
            opts["worker"] = True
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        elif opts["peer"] is None:
            opts["peer"] = a
        elif opts["tasks"] is None:
            opts["tasks"] = a
        else:
            raise SystemExit("unexpected argument %r" % a)
        i += 1
    if opts["peer"] not in ("numpy", "torch"):
        raise SystemExit("usage: peers.py numpy|torch [TASKS_JSON] [--threads 1,2] ...")
    return opts


def numpy_major():
    """numpy's major version, read without importing numpy (which fixes its threads)."""
    try:
        from importlib.metadata import version

        return int(version("numpy").split(".")[0])
    except Exception:
        return 0


def run_worker(peer, tasks, t, opts, env, cutoffs, limits, out_dir):
    """One thread count over `tasks`, relaunching the worker after a stopped task.

    Returns (results in task order, the last worker's report).
    """
    results, info = [], {}
    start = 0
    while start < len(tasks):
        args = [sys.executable, os.path.abspath(__file__), peer, "--worker",
                "--threads", str(t), "--budget-s", str(opts["budget_s"]),
                "--min-reps", str(opts["min_reps"]), "--slow-s", str(opts["slow_s"]),
                "--seed", str(opts["seed"]),
                "--cutoffs", json.dumps(cutoffs[start:]), "--limits", json.dumps(limits[start:])]
        if out_dir:
            args += ["--out-dir", out_dir]
        proc = subprocess.run(args, input=json.dumps(tasks[start:]), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit("peer %s failed with %d threads" % (peer, t))
        info = json.loads(proc.stdout)
        results += info["results"]
        stopped = info.get("stopped")
        if stopped is None:
            break
        sys.stderr.write("peers.py %s: %d threads stopped on %s after %.1f s\n"
                         % (peer, t, tasks[start + stopped].get("id", start + stopped), info["results"][-1]["ms"] / 1e3))
        start += stopped + 1
    return results, info


def main():
    opts = parse_args(sys.argv[1:])
    tasks = json.loads(opts["tasks"] if opts["tasks"] is not None else sys.stdin.read())
    peer = opts["peer"]
    if opts["worker"]:
        (threads,) = opts["threads"]

        def emit(results, stopped):
            out = versions(peer)
            out["results"] = results
            out["stopped"] = stopped
            out["blas"] = blas_info()
            out["env"] = {k: os.environ.get(k) for k in THREAD_VARS + OPENBLAS_TUNING_VARS}
            print(json.dumps(out))

        worker(peer, tasks, threads, opts, emit)
        return

    unset = []
    runs = {}
    info = {}
    # "beat_ms": the best time another peer already took on the task (from the caller).
    beat = [task.get("beat_ms") for task in tasks]
    for t in opts["threads"]:
        env = dict(os.environ)
        for var in THREAD_VARS:
            env[var] = str(t)
        if peer == "numpy" and numpy_major() >= 2:
            for var in OPENBLAS_TUNING_VARS:
                if var in env:
                    unset.append("%s=%s" % (var, env.pop(var)))
        cutoffs, limits = [], []
        for i in range(len(tasks)):
            known = [b for b in [beat[i]] + [r[i]["ms"] for r in runs.values() if not r[i].get("stopped")]
                     if b is not None]
            best = min(known) if known else None
            cutoffs.append(best)
            limits.append(None if best is None else STOP_FACTOR * best + STOP_SLACK_MS)
        # The first thread count writes the clipped kernels (they do not
        # depend on the thread count beyond rounding).
        out_dir = opts["out_dir"] if not runs else None
        results, last = run_worker(peer, tasks, t, opts, env, cutoffs, limits, out_dir)
        runs[t] = results
        info = last

    results = []
    for i in range(len(tasks)):
        per = {t: runs[t][i] for t in runs}
        finished = [t for t in per if not per[t].get("stopped")]
        if finished:
            best_t = min(finished, key=lambda t: per[t]["ms"])
        else:
            best_t = max(per, key=lambda t: per[t]["ms"])  # a lower bound: the longest wait
        best = dict(per[best_t])
        first = per[opts["threads"][0]]
        if "file" in first:
            best["file"] = first["file"]
        best["threads"] = best_t
        best["ms_by_threads"] = {str(t): per[t]["ms"] for t in per}
        best["reps_by_threads"] = {str(t): per[t]["reps"] for t in per}
        best["stopped_threads"] = [t for t in per if per[t].get("stopped")]
        best["stopped"] = not finished
        del best["reps"]
        results.append(best)

    for entry in info.get("blas", []):
        if "corename" in entry:
            sys.stderr.write("peers.py %s: %s runs OpenBLAS kernel %s\n"
                             % (peer, entry["lib"], entry["corename"]))
    out = {"peer": peer, "python": info.get("python"), "executable": info.get("executable"),
           "numpy": info.get("numpy"), "torch": info.get("torch"), "blas": info.get("blas"),
           "openblas_env_unset": sorted(set(unset)), "results": results}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
