"""Corner plots and credible regions (matplotlib only; ``corner`` not needed)."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["corner_plot", "credible_intervals", "hpd_levels"]


def credible_intervals(samples, *, level: float = 0.6827, param_names=None):
    """Median and equal-tailed credible interval of each column.

    Parameters
    ----------
    samples : array_like, shape (n, n_params)
    level : float
        Probability inside [lo, hi] (0.6827 -> 16th-84th percentiles).
    param_names : list of str, optional

    Returns
    -------
    pandas.DataFrame
        Index = parameter names; columns median, lo, hi, minus, plus.
    """
    import pandas as pd

    x = check_array(samples, name="samples", ndim=2)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if param_names is None:
        param_names = [f"p{i}" for i in range(x.shape[1])]
    q = np.percentile(x, [50.0, 50.0 * (1 - level), 50.0 * (1 + level)], axis=0)
    return pd.DataFrame({"median": q[0], "lo": q[1], "hi": q[2], "minus": q[0] - q[1], "plus": q[2] - q[0]},
                        index=list(param_names))


def hpd_levels(hist: np.ndarray, levels) -> np.ndarray:
    """Density thresholds of the highest-density regions enclosing ``levels`` of the mass."""
    flat = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(flat)
    if cum[-1] <= 0:
        return np.zeros(len(levels))
    cum /= cum[-1]
    out = []
    for lev in levels:
        i = min(int(np.searchsorted(cum, lev)), flat.size - 1)
        out.append(flat[i])
    return np.asarray(out)


def corner_plot(samples, *, param_names=None, truths=None, levels=(0.6827, 0.9545), bins: int = 40,
                ranges=None, best=None, scatter_colour=None, weights=None, smooth: float = 1.0, fig=None,
                colour="C0"):
    """Corner plot: 1-D histograms on the diagonal, 2-D panels below.

    Parameters
    ----------
    samples : array_like, shape (n, n_params)
    param_names : list of str, optional
    truths : array_like, shape (n_params,), optional
        Marked in red.
    levels : tuple of float or None
        Credible levels of the highest-density contours drawn on 2-D
        histograms. ``None`` draws a scatter instead (for solution sets,
        which are not posterior samples).
    bins : int
    ranges : array_like, shape (n_params, 2), optional
        Axis limits (default: sample range).
    best : array_like, shape (n_params,), optional
        Best fit, marked with a black cross.
    scatter_colour : array_like, shape (n,), optional
        Colour values for the scatter (e.g. Delta chi^2).
    weights : array_like, shape (n,), optional
    smooth : float
        Gaussian smoothing (in bins) of the 2-D histograms before the
        contours are drawn (0: none).
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if fig is None:
        from matplotlib.figure import Figure

        fig = Figure()
    x = check_array(samples, name="samples", ndim=2)
    n, k = x.shape
    if param_names is None:
        param_names = [f"p{i}" for i in range(k)]
    if len(param_names) != k:
        raise ValueError(f"param_names: {len(param_names)} names for {k} columns")
    if ranges is None:
        lo, hi = x.min(axis=0), x.max(axis=0)
        same = hi <= lo
        hi = np.where(same, lo + 1.0, hi)
        ranges = np.stack([lo, hi], axis=1)
    else:
        ranges = check_array(ranges, name="ranges", shape=(k, 2))
        # zoom on the data when it occupies a small part of the box
        dlo, dhi = x.min(axis=0), x.max(axis=0)
        pad = 0.05 * np.maximum(dhi - dlo, 1e-12)
        ranges = np.stack([np.maximum(ranges[:, 0], dlo - pad), np.minimum(ranges[:, 1], dhi + pad)], axis=1)
        same = ranges[:, 1] <= ranges[:, 0]
        ranges[same, 1] = ranges[same, 0] + 1.0
    size = 2.0 * k + 0.5
    fig.set_size_inches(size, size)
    axes = fig.subplots(k, k, squeeze=False)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.12, bottom=0.12, right=0.97, top=0.97)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(x[:, i], bins=bins, range=tuple(ranges[i]), weights=weights, histtype="step",
                        color=colour, density=True)
                if levels is not None:
                    q = np.percentile(x[:, i], [16, 50, 84])
                    for v in q:
                        ax.axvline(v, color=colour, ls="--", lw=0.8)
                ax.set_yticks([])
                ax.set_xlim(*ranges[i])
            else:
                if levels is None:
                    if scatter_colour is not None:
                        ax.scatter(x[:, j], x[:, i], c=scatter_colour, s=2, cmap="viridis_r",
                                   rasterized=True, linewidths=0)
                    else:
                        ax.scatter(x[:, j], x[:, i], s=2, color=colour, rasterized=True, linewidths=0)
                else:
                    h, xe, ye = np.histogram2d(x[:, j], x[:, i], bins=bins, range=[ranges[j], ranges[i]],
                                               weights=weights)
                    ax.pcolormesh(xe, ye, h.T, cmap="Greys", rasterized=True)
                    if smooth > 0:
                        from scipy.ndimage import gaussian_filter

                        h = gaussian_filter(h, float(smooth))
                    thr = np.unique(hpd_levels(h, levels))
                    if thr.size and np.all(thr > 0):
                        xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
                        try:
                            ax.contour(xc, yc, h.T, levels=np.sort(thr), colors=colour, linewidths=1.0)
                        except ValueError:  # degenerate histogram (all mass in one bin)
                            pass
                ax.set_xlim(*ranges[j])
                ax.set_ylim(*ranges[i])
                if truths is not None:
                    ax.plot(truths[j], truths[i], "s", color="red", ms=4)
                if best is not None:
                    ax.plot(best[j], best[i], "x", color="k", ms=6)
            if truths is not None:
                if i == j:
                    ax.axvline(truths[i], color="red", lw=1)
            if i < k - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel(param_names[j])
                ax.tick_params(axis="x", labelrotation=45)
            if j > 0 or i == 0:
                if i != j:
                    ax.set_yticklabels([])
            else:
                ax.set_ylabel(param_names[i])
    return fig
