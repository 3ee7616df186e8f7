"""Benchmark: direct-method O/H on real photoionisation grids vs the models' truth, and its corrections.

Run: ``.venv/bin/python benchmarks/nebular_abundances.py [--quick] [--seeds 0 1 2] [--out-dir DIR]``;
writes <out-dir>/nebular_abundances.md and .json (issue 15, item 4).

For each MAPPINGS grid shipped with NebulaBayes (HII regions; AGN narrow-line regions):

(a) the direct method (Te from [O III] 4363/5007 and Ne from [S II] with agnlab.nebular.TeNeEstimator,
    O+ from [O II] 3727 at the Garnett 1992 Te(O II) or at Te([N II] 5755/6583), O++ from [O III] 5007,
    PyNeb emissivities) on the noise-free fluxes of every model: bias against the model's true
    12 + log O/H per metallicity node (and per log U node for the NLR grid, where O3+ matters);
(b) per seed, whole grid nodes held out along 12 + log O/H and log U (agnlab.nebular.holdout_nodes);
    an ICFRegressor (GBM) learns the effective correction log O/H(true) - log(O+ + O++)(direct) on
    Monte Carlo draws of the training nodes (S/N 20 on strong lines, 5 on auroral/weak ones) and is
    scored on draws of the held-out nodes, beside PyNeb's classical O ICFs (He-based: TPP77, KB94,
    DIMS14, Izotov et al. 2006) applied to the same noisy ionic abundances. A second regressor without
    the [N II]/[O II] feature shows how much rests on the grid's N/O(O/H) prescription.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import RunInfo, add_common_args, fmt_spread, md_table, parse_args, pin_threads, seeds_note, write_results
from _common import log as _clog

OH = "12 + log O/H"
GRIDS = (("mappings-hii", "HII regions"), ("mappings-nlr", "AGN NLR"))


def _log(msg):
    _clog(msg, "nebular_abundances")


def direct_bias(grid, by):
    """Noise-free direct-method bias per node of ``by`` (Garnett 1992 and [N II] Te for O+)."""
    from agnlab.nebular import grid_abundance_table

    rows = {}
    for te_low in ("garnett92", "nii"):
        t = grid_abundance_table(grid, te_low=te_low)
        ok = t["flag"] == "ok"
        d = (t["oh_direct"] - t["oh_true"])[ok]
        g = d.groupby(t.loc[ok, by])
        frac = ok.groupby(t[by]).mean()
        for node, s in g:
            r = rows.setdefault(float(node), {by: float(node), "valid_fraction": float(frac[node])})
            r[f"median_bias_{te_low}"] = float(s.median())
            r[f"p16_{te_low}"], r[f"p84_{te_low}"] = (float(q) for q in np.percentile(s, [16, 84]))
        for node in frac.index:
            rows.setdefault(float(node), {by: float(node), "valid_fraction": float(frac[node])})
    return [rows[k] for k in sorted(rows)]


def held_out(grid, seed, quick):
    """One held-out split: regressor and classical ICFs on noisy draws of held-out nodes."""
    from agnlab.nebular import GRID_ICF_FEATURES, ICFRegressor, grid_abundance_table, holdout_nodes, score_oh

    test = holdout_nodes(grid, axes=(OH, "log U"), fraction=0.25, seed=seed)
    n_train, n_test = (2, 1) if quick else (10, 5)
    t0 = time.perf_counter()
    train = grid_abundance_table(grid, mask=~test, n_draws=n_train, seed=1000 + seed)
    held = grid_abundance_table(grid, mask=test, n_draws=n_test, seed=2000 + seed)
    table_s = time.perf_counter() - t0
    feats = list(GRID_ICF_FEATURES)
    use = (train["flag"] == "ok") & train[feats].notna().all(axis=1)
    t0 = time.perf_counter()
    reg = ICFRegressor(features=feats, target="log_icf_O", backend="gbm",
                       backend_params={"max_iter": 100 if quick else 300}, random_state=seed).fit(train[use])
    fit_s = time.perf_counter() - t0
    pred = _predict(reg, held, feats)
    # the grid ties N/O to O/H: a regressor without [N II] shows how much of the gain rests on that prescription
    feats_no_n = [f for f in feats if "nii" not in f]
    reg_no_n = ICFRegressor(features=feats_no_n, target="log_icf_O", backend="gbm",
                            backend_params={"max_iter": 100 if quick else 300}, random_state=seed).fit(train[use])
    pred_no_n = _predict(reg_no_n, held, feats_no_n)

    def scores(by=None):
        a = score_oh(held, predictions=pred, by=by)
        b = score_oh(held, predictions=pred_no_n, by=by)
        b = b[b["method"] == "grid regressor"].assign(method="grid regressor, no [N II]")
        return pd.concat([a, b], ignore_index=True)

    overall, by_oh, by_u = scores(), scores(OH), scores("log U")
    info = {"n_train_rows": int(use.sum()), "n_held_models": int(test.sum()), "n_held_rows": len(held),
            "held_fraction_models": float(test.mean()), "table_s": table_s, "fit_s": fit_s,
            "out_of_domain_fraction": float(np.mean(~np.isfinite(pred[held["flag"].to_numpy() == "ok"]))),
            "importances": dict(zip(feats, map(float, reg.feature_importances_))),
            "validation_rmse_dex": reg.training_record_["rmse_dex"]}
    return overall, by_oh, by_u, info


def _predict(reg, held, feats):
    ok = ((held["flag"] == "ok") & held[feats].notna().all(axis=1)).to_numpy()
    pred = np.full(len(held), np.nan)
    if ok.any():
        pred[ok] = reg.predict(held[ok])  # NaN where out of the training domain
    return pred


def _spread_rows(frames, keys, cols=("valid_fraction", "median_abs_dex", "bias_dex", "p95_abs_dex")):
    """Rows of ``keys`` with ``median (min-max)`` over the seeds' frames for each column."""
    allf = pd.concat([f.assign(_seed=i) for i, f in enumerate(frames)], ignore_index=True)
    rows = []
    for key, g in allf.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        r = dict(zip(keys, key))
        for c in cols:
            r[c] = fmt_spread(g[c].to_numpy(), ".3f")
        rows.append(r)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    args = parse_args(parser, argv)
    info = RunInfo(argv)
    from agnlab.nebular import load_photoionization_grid

    md = [f"{seeds_note(args.seeds)} Held-out nodes, noise draws and the regressor's initialisation change "
          "with the seed.\n",
          "The grids' 12 + log O/H is the model input (MAPPINGS 5; Thomas et al. 2018). Direct method: Te and "
          "Ne from [O III] 4363/5007 and [S II] 6731/6716 (agnlab TeNeEstimator on PyNeb), O+ from [O II] 3727 "
          "at Te(O II) = 0.7 Te(O III) + 3000 K (Garnett 1992) or at Te([N II] 5755/6583), O++ from [O III] "
          "5007; 12 + log(O+/H + O++/H). Models whose [O III] 4363 is 0 in the grid have no direct method "
          "(valid fraction < 1). Known effect: Te-based O/H is biased low at high metallicity by temperature "
          "gradients (Stasinska 2005, A&A 434, 507); in AGN NLRs O3+ and higher are also missed.\n"]
    data = {"seeds": args.seeds, "grids": {}}
    with pin_threads(args.threads):
        for name, label in GRIDS:
            grid = load_photoionization_grid(name)
            _log(f"{name}: direct-method bias on {grid.n_models} models")
            by_nodes = {OH: direct_bias(grid, OH)}
            if name == "mappings-nlr":
                by_nodes["log U"] = direct_bias(grid, "log U")
            runs = []
            for seed in args.seeds:
                _log(f"{name}: held-out split seed {seed}")
                runs.append(held_out(grid, seed, args.quick))
            overall = _spread_rows([r[0] for r in runs], ["method"])
            per_oh = _spread_rows([r[1] for r in runs], [OH, "method"], cols=("median_abs_dex", "bias_dex"))
            per_u = _spread_rows([r[2] for r in runs], ["log U", "method"], cols=("median_abs_dex", "bias_dex"))
            infos = [r[3] for r in runs]
            imp = {k: fmt_spread([i["importances"][k] for i in infos], ".3f") for k in infos[0]["importances"]}
            data["grids"][name] = {"direct_bias_noise_free": by_nodes, "held_out": overall, "held_out_by_oh": per_oh,
                                   "held_out_by_log_u": per_u, "runs": infos}
            md += [f"## {label} ({name}, {grid.n_models} models)\n",
                   "### (a) Direct method vs truth, noise-free, every model (per 12 + log O/H node)\n",
                   md_table(by_nodes[OH], [OH, "valid_fraction", "median_bias_garnett92", "p16_garnett92",
                                           "p84_garnett92", "median_bias_nii", "p16_nii", "p84_nii"],
                            {c: "{:.3f}" for c in by_nodes[OH][0] if c != OH})]
            if "log U" in by_nodes:
                md += ["\nPer log U node (O3+ grows with the ionisation parameter):\n",
                       md_table(by_nodes["log U"], ["log U", "valid_fraction", "median_bias_garnett92",
                                                    "median_bias_nii"],
                                {c: "{:.3f}" for c in by_nodes["log U"][0] if c != "log U"})]
            n_rows = fmt_spread([i["n_train_rows"] for i in infos], ".0f")
            held_frac = fmt_spread([i["held_fraction_models"] for i in infos], ".2f")
            md += [f"\n### (b) Held-out nodes with noise: {held_frac} of the models held out; {n_rows} training "
                   f"rows; GBM fit {fmt_spread([i['fit_s'] for i in infos], '.1f')} s\n",
                   "Errors of 12 + log O/H [dex] on the held-out draws (valid fraction: draws with a direct-method "
                   "value and, for the regressor, its features; the classical ICFs multiply the same noisy "
                   "O+ + O++).\n",
                   md_table(overall, ["method", "valid_fraction", "median_abs_dex", "bias_dex", "p95_abs_dex"]),
                   "\nPer 12 + log O/H node (held-out draws; bias = mean error):\n",
                   md_table(_pivot(per_oh, OH), None),
                   "\nGBM gain importances: " + ", ".join(f"{k} {v}" for k, v in imp.items()) + ".\n"]
            if name == "mappings-nlr":
                md += ["\nPer log U node (held-out draws; bias):\n", md_table(_pivot(per_u, "log U"), None)]
    write_results("nebular_abundances", "# Nebular abundances on photoionisation grids: direct method, "
                  "effective-ICF regressor, classical ICFs", "\n".join(md), data, info, args.out_dir)
    return 0


def _pivot(rows, key):
    """One row per node: the bias of every method (``median (min-max)`` over seeds)."""
    out = {}
    for r in rows:
        out.setdefault(r[key], {key: r[key]})[r["method"]] = r["bias_dex"]
    return list(out.values())


if __name__ == "__main__":
    raise SystemExit(main())
