"""``agnlab demo`` section of the emulate workflow (built-in clumpy-like grid, no files)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Fit the PCA baseline and the neural emulator on a built-in grid; add one report section."""
    from ..grids import clumpy_like_grid
    from . import NeuralEmulator, PCAEmulator, evaluate_emulator
    from ._report import add_accuracy_section

    n_models = 4000 if quick else 20000
    grid = clumpy_like_grid(n_models, seed=seed, progress=None)
    train, test = grid.split(0.2, seed=seed)
    sec = report.section("emulate", "Emulate: compressing a grid of torus SEDs",
                         intro=(f"A built-in grid of {n_models} clumpy-torus-like SEDs (6 parameters, 119 "
                                "wavelengths; an approximation of CLUMPY, not CLUMPY) is compressed by the PCA "
                                "baseline and by the neural emulator; errors are measured on the 20 % held-out "
                                "models. The network is trained briefly here to keep the demo short; with "
                                "its default training on 80,000 models it reaches 0.19 % median / 1.6 % "
                                "99th-percentile error over 1-30 um (BENCHMARKS.md)."))
    rows, metrics = [], {}
    models = {
        "PCA + RBF": PCAEmulator(n_components=16, param_names=grid.param_names),
        # the default network, trained for fewer steps than the default ~60,000 to keep the demo short
        "Neural": NeuralEmulator(n_components=16 if quick else 32, hidden=(32, 32) if quick else (80, 80, 80, 80),
                                 max_epochs=60 if quick else 150, lbfgs_steps=0,
                                 focus_wave_um=(1, 30), random_state=seed, progress=None),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, emu in models.items():
            t0 = time.perf_counter()
            emu.fit(train.params, train.flux, wave_um=grid.wave_um)
            fit_s = time.perf_counter() - t0
            path = emu.save(Path(tmp) / f"{name.split()[0].lower()}.npz")
            m = evaluate_emulator(emu, test.params, test.flux)
            rows.append({"emulator": name, "file KiB": round(path.stat().st_size / 1024, 1),
                         "fit s": round(fit_s, 1), "median err 1-30um %": round(100 * m["flux"]["median"], 3),
                         "p99 err 1-30um %": round(100 * m["flux"]["p99"], 3),
                         "W1-W2 within 0.02 mag": round(m["W1-W2"]["frac_within_tol"], 3),
                         "W2-W3 within 0.02 mag": round(m["W2-W3"]["frac_within_tol"], 3),
                         "predict s / 1e4 SEDs": round(m["predict_seconds"] * 1e4 / test.n_models, 4)})
            key = name.split()[0].lower()
            metrics[f"{key}_median_frac_err"] = m["flux"]["median"]
            metrics[f"{key}_p99_frac_err"] = m["flux"]["p99"]
            metrics[f"{key}_file_kib"] = rows[-1]["file KiB"]
    sec.table(rows, "PCA baseline and neural emulator side by side (held-out models)")
    sec.metrics(metrics)
    add_accuracy_section(report, models["Neural"], test, section=sec)
