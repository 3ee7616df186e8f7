"""Figures and tables of emulator accuracy for the HTML report."""

from __future__ import annotations

import numpy as np

__all__ = ["add_accuracy_section"]


def add_accuracy_section(report, emulator, grid, *, key: str = "emulate", title: str = "Emulator accuracy",
                         section=None) -> dict:
    """Add figures (fractional error vs wavelength, colour errors, example SEDs) and metrics; returns metrics."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ._metrics import color_errors, evaluate_emulator, fractional_flux_error

    sec = section if section is not None else report.section(key, title)
    metrics = evaluate_emulator(emulator, grid.params, grid.flux, wave_um=grid.wave_um)
    metrics_ood = metrics["n_out_of_domain"]
    grid = grid.subset(emulator.domain_mask(grid.params))
    pred = emulator.predict(grid.params)
    err = fractional_flux_error(grid.flux, pred)
    wave = grid.wave_um

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for q, style in ((50, "-"), (90, "--"), (99, ":")):
        ax.plot(wave, np.nanpercentile(err, q, axis=0) * 100, style, label=f"{q}th percentile")
    ax.axvspan(1, 30, color="0.9", zorder=0, label="1-30 um (targets)")
    ax.set(xscale="log", yscale="log", xlabel="wavelength [um]", ylabel="|pred/true - 1| [%]")
    ax.legend(fontsize=8)
    sec.figure(fig, f"Fractional flux error over {grid.n_models} held-out models ({type(emulator).__name__})")

    cerr = color_errors(wave, grid.flux, pred)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for k, name in enumerate(("W1-W2", "W2-W3")):
        c = cerr[:, k][np.isfinite(cerr[:, k])]
        ax.hist(np.log10(np.maximum(c, 1e-6)), bins=50, histtype="step", label=name)
    ax.axvline(np.log10(0.02), color="k", ls="--", label="0.02 mag")
    ax.set(xlabel="log10 |colour error| [mag]", ylabel="models")
    ax.legend(fontsize=8)
    sec.figure(fig, "WISE colour errors of the emulated SEDs")

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    idx = np.linspace(0, grid.n_models - 1, min(4, grid.n_models)).astype(int)
    for j in idx:
        line, = ax.plot(wave, wave ** -1 * grid.flux[j] * 3e14, lw=2, alpha=0.5)
        ax.plot(wave, wave ** -1 * pred[j] * 3e14, "--", color=line.get_color())
    ax.set(xscale="log", yscale="log", xlabel="wavelength [um]", ylabel="nu F_nu (arbitrary)",
           xlim=(0.5, 500))
    sec.figure(fig, "Example SEDs: true (solid) and emulated (dashed)")
    flat = {"flux_median": metrics["flux"]["median"], "flux_p99": metrics["flux"]["p99"],
            "W1-W2_frac_within_0.02": metrics["W1-W2"]["frac_within_tol"],
            "W2-W3_frac_within_0.02": metrics["W2-W3"]["frac_within_tol"], "n_models": grid.n_models,
            "n_out_of_domain": metrics_ood}
    sec.metrics(flat)
    return metrics
