"""The Dask path (``map_partitions``) gives the in-memory features, object by object."""

import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import extract_features, extract_features_dask, simulate

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_matches_in_memory():
    lc, _ = simulate(2, classes=["QSO", "RRL", "E", "SNIa"], seed=7)
    ref = extract_features(lc, bands=("g", "r"), villar=False)
    # every object's rows in one partition: partition on the sorted object_id index
    ddf = dd.from_pandas(lc.set_index("object_id").sort_index(kind="stable"), npartitions=3, sort=True)
    assert ddf.npartitions > 1
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster):
        got = extract_features_dask(ddf, bands=("g", "r"), villar=False).compute()
    assert sorted(got.index) == sorted(ref.index)
    got = got.loc[ref.index]
    assert (got["flag"] == ref["flag"]).all()
    # same numbers: each object's features do not depend on its neighbours (relative 1e-12)
    np.testing.assert_allclose(got.drop(columns="flag").to_numpy(float), ref.drop(columns="flag").to_numpy(float),
                               rtol=1e-12, atol=0.0, equal_nan=True)
    assert list(got.columns) == list(ref.columns)


def test_dask_meta_matches_partitions_without_computing():
    lc, _ = simulate(1, classes=["QSO", "AGN"], seed=8)
    ddf = dd.from_pandas(lc, npartitions=1)
    lazy = extract_features_dask(ddf, bands=("g", "r"), villar=False)
    assert list(lazy.columns) == list(extract_features(lc, bands=("g", "r"), villar=False).columns)
    out = lazy.compute(scheduler="synchronous")
    assert isinstance(out, pd.DataFrame) and len(out) == lc["object_id"].nunique()


def test_group_by_object_shuffles_only_split_objects():
    from agnlab.lightcurves import group_by_object

    lc, _ = simulate(1, classes=["QSO", "RRL", "E"], seed=9)
    lc = lc.sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True)
    ids = lc["object_id"].unique()
    # partitions on object boundaries: returned unchanged
    whole = dd.from_pandas(lc.set_index("object_id"), npartitions=2, sort=True).reset_index()
    assert group_by_object(whole) is whole
    # one object's rows cut between two partitions: shuffled so that each object lies in one partition
    cut = int(np.flatnonzero(lc["object_id"].to_numpy() == ids[1])[3])
    split = dd.concat([dd.from_pandas(lc.iloc[:cut], npartitions=1), dd.from_pandas(lc.iloc[cut:], npartitions=1)])
    grouped = group_by_object(split)
    assert grouped is not split
    owners = [set(p["object_id"]) for p in dask_partitions(grouped)]
    assert sum(len(o) for o in owners) == len(ids)
    assert sorted(set().union(*owners)) == sorted(ids)


def dask_partitions(ddf):
    import dask

    return dask.compute(*ddf.to_delayed(), scheduler="synchronous")
