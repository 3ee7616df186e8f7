"""Benchmark of the explore workflow: planted groups, outliers and trend; scaling + PCA + KMeans + IF speed.

    python benchmarks/explore.py [--quick] [--seeds 0 1 2] [--out-dir DIR]

Accuracy (per seed, mock table: 6 planted groups, 20 features, 10 % missing, 5 % upper limits, 1 %
outliers, a redshift trend, two surveys): ARI of every clustering path side by side (the best is
reported), outlier recall at 1 % flagged for every outlier method, max |r| between the embedding
axes and redshift with and without ``control=("redshift",)``. Speed: robust scaling + PCA + KMeans
+ Isolation Forest end to end on N x 20 (1,000,000 rows; 20,000 with --quick).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
    RunInfo,
    add_common_args,
    fmt_spread,
    log,
    md_table,
    parse_args,
    pin_threads,
    seeds_note,
    write_results,
)
from sklearn.metrics import adjusted_rand_score

from agnlab.explore import Explorer, mock_table

CLUSTER_PATHS = {
    "gmm (BIC, auto k)": dict(clustering="gmm"),
    "kmeans (k=6)": dict(clustering="kmeans", n_clusters=6),
    "kmeans (silhouette, auto k)": dict(clustering="kmeans"),
    "agglomerative ward (k=6)": dict(clustering="agglomerative", n_clusters=6),
    "hdbscan": dict(clustering="hdbscan"),
}
OUTLIER_PATHS = ("gmm", "lof", "iforest", "autoencoder", "pca")


def _max_r(z, E):
    return float(max(abs(np.corrcoef(z, E[:, k])[0, 1]) for k in range(E.shape[1])))


def accuracy(seed, n_rows):
    table, truth = mock_table(n_rows, seed=seed)
    table = table.set_index("object_id")
    common = dict(survey_column="survey", control=("redshift",), random_state=seed)
    out = {}
    for name, kw in CLUSTER_PATHS.items():
        if kw["clustering"] == "agglomerative" and n_rows > 20000:
            continue
        ex = Explorer(embedding=None, outliers=None, **common, **kw).fit(table)
        out[f"ari:{name}"] = adjusted_rand_score(truth["group"], ex.labels_)
    o = truth["outlier"].to_numpy()
    k = max(1, int(round(0.01 * n_rows)))
    for m in OUTLIER_PATHS:
        ex = Explorer(clustering=None, embedding=None, outliers=m, max_epochs=60, **common).fit(table)
        out[f"recall:{m}"] = float(o[np.argsort(-ex.outlier_score_)[:k]].mean())
    z = table["redshift"].to_numpy()
    with_c = Explorer(clustering=None, outliers=None, embedding="pca", **common).fit(table)
    without = Explorer(clustering=None, outliers=None, embedding="pca", survey_column="survey",
                       random_state=seed).fit(table)
    out["trend_r:control"] = _max_r(z, with_c.embedding_)
    out["trend_r:none"] = _max_r(z, without.embedding_)
    return out


def speed(n_rows, seed, threads):
    table, _ = mock_table(n_rows, seed=seed, outlier_fraction=0.001)
    t0 = time.perf_counter()
    ex = Explorer(survey_column="survey", clustering="kmeans", n_clusters=6, embedding="pca", outliers="iforest",
                  random_state=seed, n_jobs=threads).fit(table)
    wall = time.perf_counter() - t0
    steps = {k: v.get("seconds") for k, v in ex.training_record_["steps"].items()}
    return {"rows": n_rows, "wall_s": wall, **{f"{k}_s": v for k, v in steps.items()},
            "preprocess_s": wall - sum(v for v in steps.values() if v)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    args = parse_args(ap, argv)
    info = RunInfo(argv)
    n_acc = 1500 if args.quick else 6000
    n_speed = 20000 if args.quick else 1_000_000
    per_seed = []
    with pin_threads(args.threads):
        for seed in args.seeds:
            log(f"accuracy seed {seed} ({n_acc} rows)", "explore")
            per_seed.append(accuracy(seed, n_acc))
        log(f"speed {n_speed} x 20", "explore")
        sp = speed(n_speed, args.seeds[0], args.threads)
    keys = per_seed[0].keys()
    rows = [{"metric": k.split(":")[0], "path": k.split(":")[1], "value": fmt_spread([r.get(k) for r in per_seed])}
            for k in keys]
    best_ari = max(np.median([r[k] for r in per_seed]) for k in keys if k.startswith("ari:"))
    best_rec = max(np.median([r[k] for r in per_seed]) for k in keys if k.startswith("recall:"))
    trend = float(np.median([r["trend_r:control"] for r in per_seed]))
    targets = [{"target": "ARI of the best clustering path >= 0.9", "measured": f"{best_ari:.3f}",
                "met": best_ari >= 0.9},
               {"target": "outlier recall at 1 % flagged >= 0.9", "measured": f"{best_rec:.3f}",
                "met": best_rec >= 0.9},
               {"target": "|r(embedding, redshift)| < 0.1 with control", "measured": f"{trend:.3f}",
                "met": trend < 0.1},
               {"target": f"scaling+PCA+KMeans+IF on {n_speed:,} x 20 <= 120 s", "measured": f"{sp['wall_s']:.1f} s",
                "met": sp["wall_s"] <= 120}]
    body = (f"Mock table: {n_acc} rows, 6 planted groups, 20 features, 10 % missing, 5 % upper limits, 1 % outliers, "
            "redshift trend, two surveys; per-survey robust scaling, redshift regressed out.\n\n"
            + seeds_note(args.seeds) + "\n\n" + md_table(targets) + "\n" + md_table(rows) + "\n"
            + md_table([sp], fmt={k: "{:.2f}" for k in sp if k.endswith("_s")}))
    write_results("explore", "# explore benchmark", body, {"per_seed": per_seed, "speed": sp, "targets": targets},
                  info, args.out_dir)


if __name__ == "__main__":
    main()
