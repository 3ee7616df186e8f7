"""Figures of the population workflow (matplotlib; returned, never shown)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_fit_histograms", "plot_parameter_distributions", "plot_selection"]


def _fig(*args, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def plot_fit_histograms(fit, *, color_names=("W1-W2", "W2-W3")):
    """Observed, model and residual colour-colour maps of a fitted :class:`PopulationFit`."""
    fig, axes = _fig(1, 3, figsize=(13.5, 4.0), constrained_layout=True)
    ex, ey = fit.edges_
    ext = [ey[0], ey[-1], ex[0], ex[-1]]
    vmax = max(fit.observed_hist_.max(), fit.model_hist_.max(), 1.0)
    panels = ((axes[0], fit.observed_hist_, "observed"), (axes[1], fit.model_hist_, "model (weighted tracks)"))
    for ax, data, title in panels:
        im = ax.imshow(np.log10(1 + data), origin="lower", extent=ext, aspect="auto", vmin=0, vmax=np.log10(1 + vmax),
                       cmap="viridis")
        ax.set_title(title)
        ax.set_xlabel(color_names[1])
        ax.set_ylabel(color_names[0])
    fig.colorbar(im, ax=axes[:2], label="log10(1 + counts)")
    r = np.where((fit.observed_hist_ > 0) | (fit.model_hist_ > 0), fit.residuals_, np.nan)
    im = axes[2].imshow(r, origin="lower", extent=ext, aspect="auto", cmap="RdBu_r", vmin=-4, vmax=4)
    gof = getattr(fit, "goodness_of_fit_", None)
    if gof:
        axes[2].set_title(f"residuals (Cash {gof['cash']:.0f} vs {gof['expected_cash']:.0f} +- "
                          f"{gof['std_cash']:.0f}, p = {gof['p_value']:.2g})", fontsize=9)
    else:
        axes[2].set_title(f"residuals (reduced chi2 = {fit.reduced_chi2_:.2f})")
    axes[2].set_xlabel(color_names[1])
    fig.colorbar(im, ax=axes[2], label="(obs - model) / sqrt(model)")
    return fig


def plot_parameter_distributions(dists, *, truth=None, others=None):
    """Uniform (grid) vs weighted marginal parameter distributions (and a known truth, if given).

    Distributions with ``bands`` (from :meth:`PopulationFit.bootstrap`, 5 quantiles 2.5/16/50/84/97.5 %)
    get 95 % and 68 % error bars. ``others``: {label: dists} drawn as extra step lines (e.g. a biased fit).
    """
    names = list(dists)
    fig, axes = _fig(1, len(names), figsize=(2.6 * len(names), 2.8), constrained_layout=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        d = dists[name]
        x = np.arange(d["centers"].size)
        ax.bar(x - 0.2, d["uniform"], width=0.4, color="0.7", label="uniform (grid)")
        ax.bar(x + 0.2, d["weighted"], width=0.4, color="C0", label="weighted (fit)")
        if "bands" in d and len(d["bands"]) >= 2:
            b = np.asarray(d["bands"])
            lo, hi = b[0], b[-1]
            ax.vlines(x + 0.2, lo, hi, color="k", lw=0.8, label="95 % (bootstrap)" if len(b) >= 5 else "bootstrap band")
            if len(b) >= 5:
                ax.vlines(x + 0.2, b[1], b[-2], color="k", lw=2.2, label="68 %")
        for k, (label, od) in enumerate((others or {}).items()):
            ax.step(x, od[name]["weighted"], where="mid", color=f"C{k + 1}", ls="--", label=label)
        if truth is not None:
            ax.step(x, truth[name]["weighted"], where="mid", color="C3", label="true mix")
        labels = [f"{c:.3g}" for c in d["centers"]]
        step = max(1, len(labels) // 5)
        ax.set_xticks(x[::step])
        ax.set_xticklabels(labels[::step], fontsize=7)
        ax.set_title(name)
    axes[0][0].legend(fontsize=7)
    return fig


def plot_selection(w2_minus_w3, w1_minus_w2, selected, *, alpha=0.662, beta=0.232, gamma=13.97, w2=None):
    """Colour-colour diagram of a catalogue with the selected AGN highlighted."""
    fig, axes = _fig(1, 2, figsize=(10, 4), constrained_layout=True)
    sel = np.asarray(selected, bool)
    axes[0].scatter(w2_minus_w3[~sel], w1_minus_w2[~sel], s=2, c="0.6", alpha=0.4, label="rejected")
    axes[0].scatter(w2_minus_w3[sel], w1_minus_w2[sel], s=2, c="C3", alpha=0.6, label="selected AGN")
    axes[0].set_xlabel("W2-W3")
    axes[0].set_ylabel("W1-W2")
    axes[0].set_xlim(-1, 7)
    axes[0].set_ylim(-0.8, 2.5)
    axes[0].legend(markerscale=4, fontsize=8)
    if w2 is not None:
        axes[1].scatter(w2[~sel], w1_minus_w2[~sel], s=2, c="0.6", alpha=0.4)
        axes[1].scatter(w2[sel], w1_minus_w2[sel], s=2, c="C3", alpha=0.6)
        g = np.linspace(8, 18, 200)
        axes[1].plot(g, alpha * np.exp(beta * np.maximum(g - gamma, 0) ** 2), "k-", lw=1, label="colour cut")
        axes[1].set_xlabel("W2 (Vega)")
        axes[1].set_ylabel("W1-W2")
        axes[1].set_ylim(-0.8, 2.5)
        axes[1].legend(fontsize=8)
    return fig
