"""``agnlab explore TABLE --out DIR [--control redshift] [--dask SPEC]`` (thin: parse, call the library)."""

from __future__ import annotations

__all__ = ["register"]

_TABLE_SUFFIXES = (".parquet", ".csv")


def _names(text):
    if text is None:
        return None
    out = [t.strip() for t in text.split(",") if t.strip()]
    return out or None


def _explorer(args, survey):
    from . import Explorer

    n_clusters = "auto" if args.n_clusters == "auto" else int(args.n_clusters)
    return Explorer(features=_names(args.features), log=tuple(_names(args.log) or ()), scaling=args.scaling,
                    survey_column=survey, control=tuple(_names(args.control) or ()), impute=args.impute,
                    upper_limits=args.upper_limits, clustering=None if args.clustering == "none" else args.clustering,
                    n_clusters=n_clusters, max_clusters=args.max_clusters,
                    embedding=None if args.embedding == "none" else args.embedding,
                    outliers=None if args.outliers == "none" else args.outliers,
                    outlier_fraction=args.outlier_fraction, stability_resamples=args.stability_resamples,
                    random_state=args.seed, n_jobs=args.n_jobs, progress=args.progress)


def _cmd_explore_dask(args) -> int:
    from ..cli_common import CLIError
    from ..scale import dask_client, read_dataset
    from . import explore_dataset, mock_table

    if args.labels_out or args.save_model:
        raise CLIError("--dask writes the per-row results to OUT/rows/ (partitioned Parquet); --labels-out and "
                       "--save-model apply to in-memory runs only")
    if args.table == "builtin":
        source, _ = mock_table(args.n_rows, seed=args.seed)
        survey = args.survey_column or "survey"
    else:
        source, survey = args.table, args.survey_column
    id_column = args.id_column or ("object_id" if "object_id" in read_dataset(source).columns else None)
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        summary = explore_dataset(source, args.out, _explorer(args, survey), sample_rows=args.sample_rows,
                                  id_column=id_column, client=client, overwrite=args.overwrite,
                                  progress=args.progress, report=not args.no_report)
    counts = summary.get("cluster_counts", {})
    print(f"wrote {args.out}/rows ({summary['n_rows']} rows, fitted on {summary['n_sample']}; "
          f"{len([k for k in counts if k != '-1'])} clusters, {summary.get('n_flagged', 0)} outliers flagged, "
          f"{summary['n_rows'] - summary['flags'].get('ok', 0)} rows out of domain)")
    return 0


def _cmd_explore(args) -> int:
    from ..io import read_table, write_table
    from . import mock_table

    if args.dask:
        return _cmd_explore_dask(args)
    if args.table == "builtin":
        table, _ = mock_table(args.n_rows, seed=args.seed)
        survey = args.survey_column or "survey"
    else:
        table = read_table(args.table)
        survey = args.survey_column
    if args.id_column:
        from ..validation import check_columns

        check_columns(table, [args.id_column], name="table")
        table = table.set_index(table[args.id_column].astype(str), drop=False).drop(columns=[args.id_column])
    elif "object_id" in table.columns:
        table = table.set_index(table["object_id"].astype(str)).drop(columns=["object_id"])
    ex = _explorer(args, survey).fit(table)
    html = ex.report(args.out, interactive=False if args.no_interactive else None)
    print(f"wrote {html} ({len(ex.labels_)} rows, {len(set(ex.labels_.tolist()) - {-1})} clusters, "
          f"{int(ex.outlier_ranking_['flagged'].sum()) if ex.outliers else 0} outliers flagged)")
    if args.labels_out:
        import pandas as pd

        res = pd.DataFrame({"id": ex.ids_, "cluster": ex.labels_, "outlier_score": ex.outlier_score_})
        for k in range(ex.embedding_.shape[1]):
            res[f"embedding_{k + 1}"] = ex.embedding_[:, k]
        write_table(res, args.labels_out)
        print(f"wrote {args.labels_out}")
    if args.save_model:
        print(f"wrote {ex.save(args.save_model)}")
    return 0


def register(subparsers) -> None:
    """Add the ``explore`` verb to the top-level ``agnlab`` parser."""
    from ..cli_common import add_common, add_dask, add_input, add_output
    from ._methods import CLUSTERINGS, EMBEDDINGS, OUTLIERS

    p = subparsers.add_parser("explore", help="cluster, embed and rank outliers of a multi-wavelength table; "
                              "writes an HTML report")
    add_input(p, "table", help="table of objects (.parquet/.csv/.fits/.h5), one row per object; with --dask also a "
              "partitioned Parquet folder or glob", builtin=True)
    add_output(p, help="report folder to write (index.html, metrics.json, figures/; with --dask also rows/, "
               "outliers.parquet, dataset.json)", directory=True)
    add_output(p, "labels_out", required=False, help="per-row cluster, outlier score and embedding table",
               suffixes=_TABLE_SUFFIXES)
    add_output(p, "save_model", required=False, help="save the fitted Explorer", suffixes=(".npz",))
    p.add_argument("--features", default=None, help="comma-separated feature columns (default: every numeric "
                   "column except controls, survey and *_ul flags)")
    p.add_argument("--control", default=None,
                   help="comma-separated known trends to regress out, e.g. redshift (default: none)")
    p.add_argument("--log", default=None, help="comma-separated columns to take log10 of (default: none)")
    p.add_argument("--survey-column", default=None,
                   help="column naming the survey, for per-survey scaling (default: one survey)")
    p.add_argument("--id-column", default=None, help="column of object identifiers (default: object_id if present)")
    p.add_argument("--scaling", choices=("robust", "standard", "none"), default="robust",
                   help="per-survey scaling (default: robust)")
    p.add_argument("--impute", choices=("median", "knn"), default="median", help="missing values (default: median)")
    p.add_argument("--upper-limits", choices=("censored", "value", "missing"), default="censored",
                   help="how <feature>_ul flags are used (default: censored)")
    p.add_argument("--clustering", choices=(*CLUSTERINGS, "none"), default="gmm", help="(default: gmm)")
    p.add_argument("--n-clusters", default="auto", help="number of clusters or 'auto' (default: auto)")
    p.add_argument("--max-clusters", type=int, default=10, help="largest k tried by 'auto' (default: 10)")
    p.add_argument("--embedding", choices=(*EMBEDDINGS, "none"), default="pca", help="(default: pca)")
    p.add_argument("--outliers", choices=(*OUTLIERS, "none"), default="iforest", help="(default: iforest)")
    p.add_argument("--outlier-fraction", type=float, default=0.01, help="fraction flagged (default: 0.01)")
    p.add_argument("--stability-resamples", type=int, default=0,
                   help="bootstrap refits for cluster stability (default: 0)")
    p.add_argument("--n-rows", type=int, default=2000, help="rows of the 'builtin' mock table (default: 2000)")
    p.add_argument("--no-interactive", action="store_true", help="PNG figures only, even when plotly is installed")
    p.add_argument("--sample-rows", type=int, default=200_000,
                   help="with --dask: rows of the uniform random sample the models are fitted on (default: 200000)")
    p.add_argument("--no-report", action="store_true", help="with --dask: skip the HTML report of the fitted sample")
    add_dask(p)
    add_common(p)
    p.set_defaults(func=_cmd_explore)
