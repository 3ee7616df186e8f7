"""Benchmark of the emulate workflow (issue 2): accuracy, file size, speed, side by side.

Run: ``.venv/bin/python benchmarks/emulate.py [--quick] [--only builtin|real]``; writes
benchmarks/results/emulate.md (or emulate_<grid>.md with --only).
(a) built-in clumpy-like grid (100,000 models), (b) real CLUMPY grid in ../shared/data/torus
(skipped when absent). Held-out: random 20 % of each grid.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _reference_decoder(rng):
    """Random weights of the 6-32-64-128-119 LeakyReLU decoder (speed reference only)."""
    sizes = [6, 32, 64, 128, 119]
    return [((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), np.zeros(b, np.float32))
            for a, b in zip(sizes[:-1], sizes[1:])]


def reference_forward(layers, X, batch=65536):
    """Plain numpy float32 forward pass, batched (log flux out, float32)."""
    X = np.asarray(X, dtype=np.float32)
    out = np.empty((X.shape[0], layers[-1][0].shape[1]), dtype=np.float32)
    for s in range(0, X.shape[0], batch):
        h = X[s:s + batch]
        for k, (w, b) in enumerate(layers):
            h = h @ w + b
            if k < len(layers) - 1:
                h = np.where(h > 0, h, np.float32(0.01) * h)
        out[s:s + batch] = h
    return out


def _best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _row(name, emu, path, fit_s, m):
    return {"emulator": name, "file_kib": path.stat().st_size / 1024, "fit_s": fit_s,
            "median_pct": 100 * m["flux"]["median"], "p99_pct": 100 * m["flux"]["p99"],
            "w12": m["W1-W2"]["frac_within_tol"], "w23": m["W2-W3"]["frac_within_tol"],
            "pred_us_per_sed": 1e6 * m["predict_seconds"] / m["n_models"]}


def run_grid(label, grid, neural_kw, pca_kw, tmp, seed=0):
    from agnlab.emulate import NeuralEmulator, PCAEmulator, evaluate_emulator

    train, test = grid.split(0.2, seed=seed)
    rows, emus = [], {}
    for name, emu in (("PCA + interpolation (baseline)", PCAEmulator(param_names=grid.param_names, **pca_kw)),
                      ("NeuralEmulator", NeuralEmulator(param_names=grid.param_names, random_state=seed,
                                                        **neural_kw))):
        t0 = time.perf_counter()
        emu.fit(train.params, train.flux, wave_um=grid.wave_um)
        fit_s = time.perf_counter() - t0
        path = emu.save(Path(tmp) / f"{label}-{type(emu).__name__}.npz")
        m = evaluate_emulator(emu, test.params, test.flux)
        r = _row(name + (f" [{emu.interpolation_}]" if hasattr(emu, "interpolation_") else ""), emu, path, fit_s, m)
        rows.append(r)
        emus[name] = emu
        print(label, r, flush=True)
    return rows, emus


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--n-models", type=int, default=100_000)
    ap.add_argument("--n-speed", type=int, default=1_000_000)
    ap.add_argument("--only", choices=("builtin", "real"), default=None,
                    help="run one grid only (writes results/emulate_<grid>.md)")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    import torch

    torch.set_num_threads(2)
    threadpool_limits(2)
    from agnlab.grids import clumpy_like_grid

    n_models = 5000 if args.quick else args.n_models
    n_speed = 100_000 if args.quick else args.n_speed
    load = os.getloadavg()
    lines = ["# emulate benchmark", "",
             f"Machine: {os.cpu_count()} CPUs; load average at start {load[0]:.1f} (the machine was shared with "
             "other agents while measuring, so absolute times are noisy; ratios are measured side by side).", ""]
    with tempfile.TemporaryDirectory() as tmp:
        results, emus_a = {}, None
        if args.only in (None, "builtin"):
            t0 = time.perf_counter()
            grid = clumpy_like_grid(n_models, seed=0, progress=False)
            gen_s = time.perf_counter() - t0
            lines.append(f"Built-in grid: {n_models} SEDs x 119 generated in {gen_s:.1f} s.")
            lines.append("")
            nk_builtin = dict(n_components=32, hidden=(128, 128, 128), max_epochs=10 if args.quick else 600,
                              patience=30, lr_patience=8, lr=3e-3, batch_size=1024,
                              lbfgs_steps=50 if args.quick else 300, focus_wave_um=(1, 30), progress=False)
            results["(a) built-in clumpy-like"], emus_a = run_grid("builtin", grid, nk_builtin,
                                                                   dict(n_components=24, rbf_neighbors=32), tmp)
        real_path = ROOT.parent / "shared" / "data" / "torus" / "clumpy_nenkova08_3p.npz"
        if args.only in (None, "real") and real_path.exists():
            from agnlab.grids import load_grid

            real = load_grid(real_path)
            nk_real = dict(n_components=32, hidden=(128, 128, 128), max_epochs=200 if args.quick else 2000,
                           patience=200, lbfgs_steps=100 if args.quick else 6000,
                           focus_wave_um=(1, 30), progress=False)
            results["(b) real CLUMPY (1080)"], _ = run_grid("real", real, nk_real, dict(n_components=24), tmp)

        lines += ["## Accuracy on held-out models (random 20 %), fractional flux error over 1-30 um", "",
                  "| grid | emulator | file KiB | fit s | median % | p99 % | W1-W2 within 0.02 | "
                  "W2-W3 within 0.02 | predict us/SED |", "|---|---|---|---|---|---|---|---|---|"]
        for g, rows in results.items():
            for r in rows:
                lines.append(f"| {g} | {r['emulator']} | {r['file_kib']:.1f} | {r['fit_s']:.1f} | "
                             f"{r['median_pct']:.3f} | {r['p99_pct']:.3f} | {r['w12']:.3f} | {r['w23']:.3f} | "
                             f"{r['pred_us_per_sed']:.2f} |")
        lines += ["", "Targets: NeuralEmulator file <= 340 KB; real grid median <= 0.1 %, p99 <= 1 %; built-in "
                  "median <= 0.5 %, p99 <= 3 %; colours within 0.02 mag for >= 95 % of models.", ""]

        # speed: 1e6 SEDs, NeuralEmulator.predict vs the reference decoder, side by side
        if emus_a is not None:
            lines += speed_section(emus_a, n_speed)
    name = "emulate.md" if args.only is None else f"emulate_{args.only}.md"
    out = ROOT / "benchmarks" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    from agnlab.io import atomic_path

    with atomic_path(out) as tmp_path:
        Path(tmp_path).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def speed_section(emus_a, n_speed):
    """Time 1e6 predictions of the neural emulator, the reference decoder and the PCA baseline."""
    lines = []
    if emus_a:
        neural = emus_a["NeuralEmulator"]
        pca = emus_a["PCA + interpolation (baseline)"]
        rng = np.random.default_rng(1)
        lo, hi = neural.param_min_, neural.param_max_
        X = lo + rng.random((n_speed, lo.size)) * (hi - lo)
        ref_layers = _reference_decoder(rng)
        Xs = neural._scale_params(X).astype(np.float32)
        neural.predict(X[:1000])
        reference_forward(ref_layers, Xs[:1000])
        t_nn, t_ref = [], []
        for _ in range(3):                       # interleaved so both see the same machine load
            t_ref.append(_best_time(lambda: reference_forward(ref_layers, Xs), 1))
            t_nn.append(_best_time(lambda: neural.predict(X), 1))
        t_ref, t_nn = min(t_ref), min(t_nn)
        tracemalloc.start()
        neural.predict(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        n_pca = min(20000, n_speed)
        t_pca = _best_time(lambda: pca.predict(X[:n_pca]), 1) * n_speed / n_pca
        lines += [f"## Speed: {n_speed:,} SEDs x 119 wavelengths (2 threads)", "",
                  "| method | seconds | ratio to reference | output |", "|---|---|---|---|",
                  f"| NeuralEmulator.predict (numpy float32 chunks, float64 fluxes) | {t_nn:.2f} | "
                  f"{t_nn / t_ref:.2f} | F_nu float64 |",
                  f"| reference decoder 6-32-64-128-119 LeakyReLU, numpy float32, batched | {t_ref:.2f} | 1.00 | "
                  "log flux float32 |",
                  f"| PCA baseline ({pca.interpolation_}; timed on {n_pca:,}, scaled) | {t_pca:.1f} | "
                  f"{t_pca / t_ref:.1f} | F_nu float64 |", "",
                  f"Peak traced memory of NeuralEmulator.predict on {n_speed:,} SEDs: {peak / 2**20:.0f} MiB "
                  f"(the float64 output alone is {n_speed * 119 * 8 / 2**20:.0f} MiB; inference works in chunks of "
                  f"{neural.chunk_size} rows). Process max RSS: "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.", "",
                  "Targets: <= 2 s and <= 0.5 x the reference decoder.", ""]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
