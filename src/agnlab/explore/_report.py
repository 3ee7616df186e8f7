"""The Explorer's HTML report: embedding coloured by every feature, cluster summaries, outlier list.

Built on ``agnlab.report.Report`` (PNG figures, always, also written to
``figures/``); when plotly is installed an interactive embedding (a menu picks
the colouring feature) is added, with plotly.js embedded once so the page
works offline.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

__all__ = ["write_report"]


def _have_plotly() -> bool:
    try:
        import plotly  # noqa: F401
    except ImportError:
        return False
    return True


def _sample(n, max_points, seed):
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def _embedding_2d(ex):
    E = ex.embedding_
    if E.shape[1] >= 2:
        return E[:, :2], ("embedding 1", "embedding 2")
    if E.shape[1] == 1:
        return np.column_stack([E[:, 0], np.zeros(len(E))]), ("embedding 1", "")
    return None, None


def _grid_figure(ex, E, idx, axes):
    import matplotlib.pyplot as plt

    names = ["cluster", "outlier score"] + list(ex.features_)
    ncol = 5
    nrow = int(np.ceil(len(names) / ncol))
    fig, axs = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.7 * nrow), constrained_layout=True, squeeze=False)
    for ax, name in zip(axs.ravel(), names):
        if name == "cluster":
            c, cmap = ex.labels_[idx], "tab10"
        elif name == "outlier score":
            c, cmap = ex.outlier_score_[idx], "magma"
        else:
            c, cmap = ex.feature_values_[idx, ex.features_.index(name)], "viridis"
        finite = np.isfinite(c.astype(float))
        ax.scatter(E[idx[~finite], 0], E[idx[~finite], 1], s=2, c="0.85", rasterized=True)
        sc = ax.scatter(E[idx[finite], 0], E[idx[finite], 1], s=2, c=c[finite], cmap=cmap, rasterized=True)
        if name != "cluster":
            fig.colorbar(sc, ax=ax, shrink=0.8)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axs.ravel()[len(names):]:
        ax.axis("off")
    return fig


def _effect_figure(ex, n_top=8):
    import matplotlib.pyplot as plt

    s = ex.cluster_summary_
    clusters = sorted(set(s["cluster"].tolist()))
    feats = list(ex.features_)
    M = np.zeros((len(clusters), len(feats)))
    for i, c in enumerate(clusters):
        sub = s.loc[s["cluster"] == c].set_index("feature")["effect_size"]
        M[i] = sub.reindex(feats).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(feats)), 0.45 * len(clusters) + 2), constrained_layout=True)
    lim = np.nanmax(np.abs(M)) if np.isfinite(M).any() else 1.0
    im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(feats)), feats, rotation=90, fontsize=7)
    ax.set_yticks(range(len(clusters)), [f"cluster {c}" for c in clusters], fontsize=8)
    fig.colorbar(im, ax=ax, label="effect size (Cohen's d, cluster vs rest)")
    return fig


def _plotly_embedding(ex, E, idx, axes, include_js: bool) -> str:
    import plotly.graph_objects as go

    colourings = [("cluster", ex.labels_.astype(float)), ("outlier score", ex.outlier_score_)]
    colourings += [(f, ex.feature_values_[:, j]) for j, f in enumerate(ex.features_)]
    text = [f"{ex.ids_[i]} (cluster {ex.labels_[i]})" for i in idx]
    fig = go.Figure(go.Scattergl(x=E[idx, 0], y=E[idx, 1], mode="markers", text=text,
                                 marker=dict(size=4, color=colourings[0][1][idx], colorscale="Viridis",
                                             showscale=True, colorbar=dict(title=colourings[0][0]))))
    buttons = []
    for name, values in colourings:
        v = np.asarray(values, dtype=float)[idx]
        buttons.append(dict(label=name, method="restyle",
                            args=[{"marker.color": [np.where(np.isfinite(v), v, None).tolist()],
                                   "marker.colorbar.title.text": name}]))
    fig.update_layout(updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.15)],
                      xaxis_title=axes[0], yaxis_title=axes[1], height=560, margin=dict(t=60),
                      title="embedding (choose the colouring feature)")
    return fig.to_html(full_html=False, include_plotlyjs=True if include_js else False,
                       div_id="explore-embedding")


def write_report(ex, path, *, title, interactive=None, max_points=20000, seed=0) -> Path:
    """Write ``path/index.html``, ``path/metrics.json`` and ``path/figures/*.png`` for a fitted Explorer."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..report import Report

    out = Path(path)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    if interactive is None:
        interactive = _have_plotly()
    elif interactive and not _have_plotly():
        raise ImportError("interactive=True needs plotly: pip install plotly (or interactive=False)")
    rep = Report(title)
    sec = rep.section("explore", "Exploration", intro=(
        f"{len(ex.labels_)} rows, {len(ex.features_)} features; clustering {ex.clustering}, embedding "
        f"{ex.embedding}, outliers {ex.outliers}; control {list(ex.control) if ex.control else 'none'}; "
        f"scaling {ex.scaling}{' per survey' if ex.survey_column else ''}; upper limits {ex.upper_limits}."))
    E, axes = _embedding_2d(ex)
    idx = _sample(len(ex.labels_), max_points, seed)

    def add(fig, name, caption):
        fig.savefig(figs / f"{name}.png", dpi=110, bbox_inches="tight")
        sec.figure(fig, caption)

    if E is not None:
        if interactive:
            sec.text('<div class="interactive">' + _plotly_embedding(ex, E, idx, axes, True) + "</div>")
        add(_grid_figure(ex, E, idx, axes), "embedding_by_feature",
            "embedding coloured by cluster, outlier score and every feature (grey: missing)")
    if ex.clustering is not None and len(ex.cluster_summary_):
        add(_effect_figure(ex), "effect_sizes", "which features drive each cluster (effect size vs the rest)")
        counts = ex.cluster_summary_.drop_duplicates("cluster")[["cluster", "n"]]
        tops = []
        for c in counts["cluster"]:
            t = ex.top_features(c, 3)
            tops.append(", ".join(f"{f} ({d:+.1f})" for f, d in zip(t["feature"], t["effect_size"])))
        sec.table(counts.assign(top_features=tops), "clusters: size and the features that set them apart")
        sec.table(ex.cluster_summary_.round(3), "per-cluster feature summary (medians in input units)",
                  max_rows=60)
    if ex.model_selection_ is not None:
        sec.table(ex.model_selection_.round(3), "model selection")
    if ex.stability_:
        sec.text(f"Cluster stability: adjusted Rand index over {ex.stability_['n_resamples']} bootstrap "
                 f"refits {ex.stability_['ari_mean']:.3f} +- {ex.stability_['ari_std']:.3f}.")
    if ex.outliers is not None:
        sec.table(ex.outlier_ranking_.loc[ex.outlier_ranking_["flagged"]].drop(columns="flagged"),
                  "flagged outliers, most anomalous first (features with the largest |scaled value|)", max_rows=100)
    metrics = {"n_rows": len(ex.labels_), "n_clusters": int(len(set(ex.labels_.tolist()) - {-1}))}
    if ex.stability_:
        metrics["stability_ari_mean"] = ex.stability_["ari_mean"]
    sec.metrics(metrics)
    sec.text(f"<p class='meta'>Figures also written to {html.escape(str(figs))}.</p>")
    return rep.write(out)
