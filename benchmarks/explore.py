"""Benchmark of the explore workflow: planted groups, outliers and trend; speed in memory, UMAP, and on Dask.

    python benchmarks/explore.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--dask-gb 2.2] [--data-dir DIR]

Accuracy (per seed, mock table: 6 planted groups, 20 features, 10 % missing, 5 % upper limits, 1 %
outliers, a redshift trend, two surveys): ARI of every clustering path side by side (the best is
reported), outlier recall at 1 % flagged for every outlier method, max |r| between the embedding
axes and redshift with and without ``control=("redshift",)``. Speed: robust scaling + PCA + KMeans
+ Isolation Forest end to end on N x 20 (1,000,000 rows; 20,000 with --quick); UMAP on 100,000 rows
(5,000 with --quick) per seed. Dask: a partitioned Parquet mock table of ``--dask-gb`` GB on disk
(written once to ``--data-dir``, 500,000 rows per file) explored on a 2-worker LocalCluster (2 GB per
worker): fitted on a 200,000-row sample, every row labelled, embedded and scored, written back as
partitioned Parquet; wall time, rows/s, peak worker memory and the ARI on two partitions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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

from agnlab.explore import Explorer, explore_dataset, mock_table

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


def umap_speed(n_rows, seed):
    table, _ = mock_table(n_rows, seed=seed)
    t0 = time.perf_counter()
    Explorer(survey_column="survey", control=("redshift",), clustering=None, outliers=None, embedding="umap",
             random_state=seed).fit(table.set_index("object_id"))
    return time.perf_counter() - t0


def _write_dataset(folder: Path, target_gb: float, rows_per_file: int, seed: int) -> dict:
    """Partitioned mock table of about ``target_gb`` GB (reused when the manifest matches); truth beside it."""
    manifest = {"target_gb": target_gb, "rows_per_file": rows_per_file, "seed": seed,
                "generator": "mock_table(structure_seed=seed, seed=seed * 1000 + file)"}
    done = folder / "manifest.json"
    if done.exists() and {k: v for k, v in json.loads(done.read_text()).items() if k in manifest} == manifest:
        return json.loads(done.read_text())
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "table").mkdir(parents=True)
    (folder / "truth").mkdir()
    size, i = 0, 0
    while size < target_gb * 1e9:
        table, truth = mock_table(rows_per_file, seed=seed * 1000 + i, structure_seed=seed, outlier_fraction=0.01)
        ids = f"p{i:04d}-" + table["object_id"]
        table.assign(object_id=ids).to_parquet(folder / "table" / f"part{i:04d}.parquet")
        truth.assign(object_id=ids).to_parquet(folder / "truth" / f"part{i:04d}.parquet")
        size += (folder / "table" / f"part{i:04d}.parquet").stat().st_size
        i += 1
    manifest.update(files=i, rows=i * rows_per_file, bytes=size)
    done.write_text(json.dumps(manifest))
    return manifest


def dask_path(data_dir: Path, target_gb, rows_per_file, seed, sample_rows):
    import pandas as pd
    from distributed.diagnostics import MemorySampler

    from agnlab.scale import dask_client

    t0 = time.perf_counter()
    manifest = _write_dataset(data_dir, target_gb, rows_per_file, seed)
    t_write = time.perf_counter() - t0
    out = data_dir / "result"
    ex = Explorer(survey_column="survey", control=("redshift",), clustering="kmeans", n_clusters=6, embedding="pca",
                  outliers="iforest", random_state=seed)
    sampler = MemorySampler()
    with dask_client("local:2", memory_limit="2GB") as client:
        with sampler.sample("explore", client=client, measure="process", interval=0.5):
            t1 = time.perf_counter()
            summary = explore_dataset(data_dir / "table", out, ex, sample_rows=sample_rows, id_column="object_id",
                                      client=client, overwrite=True, progress=False, report=False)
            wall = time.perf_counter() - t1
        n_workers = len(client.scheduler_info()["workers"])
    mem = sampler.to_pandas()["explore"]
    rows = pd.read_parquet(out / "rows", filters=[("object_id", "<", "p0002")])
    truth = pd.concat([pd.read_parquet(data_dir / "truth" / f"part{i:04d}.parquet") for i in range(2)])
    truth = truth.set_index("object_id").loc[rows.index]
    return {"rows": manifest["rows"], "files": manifest["files"], "gb_on_disk": manifest["bytes"] / 1e9,
            "sample_rows": summary["n_sample"], "wall_s": wall, "rows_per_s": manifest["rows"] / wall,
            "fit_s": summary["seconds"]["fit"], "apply_s": summary["seconds"]["apply"],
            "peak_gb_per_worker": float(mem.max()) / n_workers / 1e9, "out_of_domain": manifest["rows"]
            - summary["flags"].get("ok", 0), "ari_2_files": adjusted_rand_score(truth["group"], rows["cluster"]),
            "generate_s": t_write}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--dask-gb", type=float, default=None,
                    help="size on disk of the partitioned table for the Dask path (default: 2.2; 0.02 with --quick)")
    ap.add_argument("--data-dir", default="benchmarks/_out/explore_dataset",
                    help="where the partitioned table is written (default: benchmarks/_out/explore_dataset)")
    args = parse_args(ap, argv)
    info = RunInfo(argv)
    n_acc = 1500 if args.quick else 6000
    n_speed = 20000 if args.quick else 1_000_000
    n_umap = 5000 if args.quick else 100_000
    dask_gb = args.dask_gb if args.dask_gb is not None else (0.02 if args.quick else 2.2)
    per_seed, umap_s = [], []
    with pin_threads(args.threads):
        for seed in args.seeds:
            log(f"accuracy seed {seed} ({n_acc} rows)", "explore")
            per_seed.append(accuracy(seed, n_acc))
        log(f"speed {n_speed} x 20", "explore")
        sp = speed(n_speed, args.seeds[0], args.threads)
        for seed in args.seeds:
            log(f"UMAP {n_umap} rows, seed {seed}", "explore")
            umap_s.append(umap_speed(n_umap, seed))
    log(f"Dask path, {dask_gb} GB of Parquet", "explore")
    dk = dask_path(Path(args.data_dir), dask_gb, 20_000 if args.quick else 500_000, args.seeds[0],
                   5000 if args.quick else 200_000)
    dk["in_memory_rows_per_s"] = n_speed / sp["wall_s"]
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
                "met": sp["wall_s"] <= 120},
               {"target": f"UMAP on {n_umap:,} rows <= 180 s", "measured": fmt_spread(umap_s) + " s",
                "met": max(umap_s) <= 180},
               {"target": "Dask path on partitioned Parquet > 2 GB", "measured":
                f"{dk['gb_on_disk']:.2f} GB, {dk['rows']:,} rows in {dk['wall_s']:.0f} s, "
                f"peak {dk['peak_gb_per_worker']:.2f} GB/worker, ARI {dk['ari_2_files']:.3f}",
                "met": dk["gb_on_disk"] > 2 and dk["peak_gb_per_worker"] <= 2}]
    body = (f"Mock table: {n_acc} rows, 6 planted groups, 20 features, 10 % missing, 5 % upper limits, 1 % outliers, "
            "redshift trend, two surveys; per-survey robust scaling, redshift regressed out.\n\n"
            + seeds_note(args.seeds) + "\n\n" + md_table(targets) + "\n" + md_table(rows) + "\n"
            + md_table([sp], fmt={k: "{:.2f}" for k in sp if k.endswith("_s")})
            + "\nDask path (2 workers x 1 thread, 2 GB each; models fitted on the sample, every row written back; "
              "`in_memory_rows_per_s` is the in-memory fit on 1,000,000 rows above, with 2 threads):\n\n"
            + md_table([dk], fmt={k: "{:.3g}" for k in dk if isinstance(dk[k], float)}))
    write_results("explore", "# explore benchmark", body, {"per_seed": per_seed, "speed": sp, "umap_s": umap_s,
                                                           "dask": dk, "targets": targets}, info, args.out_dir)


if __name__ == "__main__":
    main()
