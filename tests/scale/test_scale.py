"""agnlab.scale: --dask specs, reading partitioned tables, partition-wise maps and all-or-nothing writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")

from agnlab.scale import ScaleError, map_table, parse_dask_spec, read_dataset, write_dataset  # noqa: E402


def _table(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"object_id": [f"o{i:05d}" for i in range(n)], "x": rng.normal(size=n),
                         "y": rng.normal(size=n)})


@pytest.mark.parametrize("spec, expected", [("local:2", ("local", 2)), ("tcp://127.0.0.1:8786",
                                                                           ("address", "tcp://127.0.0.1:8786")),
                                            ("scheduler.example:8786", ("address", "scheduler.example:8786"))])
def test_parse_dask_spec(spec, expected):
    assert parse_dask_spec(spec) == expected


@pytest.mark.parametrize("spec", ["local:0", "local:x", "cluster", "tcp://host"])
def test_parse_dask_spec_rejects(spec):
    with pytest.raises(ValueError, match="--dask"):
        parse_dask_spec(spec)


def test_read_dataset_folder_glob_and_bad_input(tmp_path):
    t = _table()
    folder = tmp_path / "ds"
    folder.mkdir()
    for i in range(4):
        t.iloc[i * 250:(i + 1) * 250].to_parquet(folder / f"part{i}.parquet")
    ddf = read_dataset(folder, columns=["x", "y"])
    assert ddf.npartitions == 4 and len(ddf) == 1000
    assert len(read_dataset(str(folder / "part*.parquet"))) == 1000
    with pytest.raises(Exception, match="z"):
        read_dataset(folder, columns=["x", "z"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_dataset(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "p.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ScaleError, match="cannot read"):
        read_dataset(tmp_path / "bad").compute()


class _Shift:
    """A stand-in fitted model: adds its offset; records the threads it ran with."""

    def __init__(self, offset):
        self.offset = offset

    def apply(self, part):
        from threadpoolctl import threadpool_info

        threads = max((p["num_threads"] for p in threadpool_info()), default=1)
        return pd.DataFrame({"z": part["x"] + self.offset, "threads": threads}, index=part.index)


def test_map_table_matches_in_memory_and_pins_threads(tmp_path):
    t = _table()
    meta = pd.DataFrame({"z": pd.Series(dtype=float), "threads": pd.Series(dtype=np.int64)})
    res = map_table(lambda part, model: model.apply(part), read_dataset(t, partition_rows=300), meta,
                    model=_Shift(2.5)).compute()
    np.testing.assert_allclose(res["z"].to_numpy(), t["x"].to_numpy() + 2.5, rtol=0, atol=0)
    assert (res["threads"] == 1).all()


def test_write_dataset_is_all_or_nothing(tmp_path):
    t = _table()
    ddf = read_dataset(t, partition_rows=250)
    out = write_dataset(ddf, tmp_path / "out")
    pd.testing.assert_frame_equal(pd.read_parquet(out).reset_index(drop=True), t, check_dtype=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_dataset(ddf, out)

    def fail_on_third(part):
        if part["object_id"].iloc[0] == "o00500":
            raise RuntimeError("bad partition o00500")
        return part

    bad = ddf.map_partitions(fail_on_third, meta=ddf._meta)
    with pytest.raises(ScaleError, match="bad partition o00500.*nothing was written"):
        write_dataset(bad, out, overwrite=True)
    # the old dataset is intact
    pd.testing.assert_frame_equal(pd.read_parquet(out).reset_index(drop=True), t, check_dtype=False)
    with pytest.raises(ScaleError):
        write_dataset(bad, tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial folder left behind


def _die_on(marker_id, once_file=None):
    """A partition function that kills its worker process when it meets ``marker_id`` (once, with ``once_file``)."""
    def run(part, model):
        import os

        if marker_id in set(part["object_id"]):
            if once_file is None or not os.path.exists(once_file):
                if once_file is not None:
                    open(once_file, "w").close()
                os._exit(1)
        return part
    return run


def test_a_worker_killed_mid_run_is_retried_or_fails_cleanly(tmp_path):
    """One death: Dask reruns the partition elsewhere and the output is complete; every try dying: a clear error
    and no partial dataset."""
    pytest.importorskip("distributed")
    import dask

    from agnlab.scale import dask_client

    t = _table()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            dask_client("local:2", memory_limit="1GB") as client:
        ddf = read_dataset(t, partition_rows=250)
        out = write_dataset(map_table(_die_on("o00600", str(tmp_path / "died")), ddf, ddf._meta), tmp_path / "ok",
                            client=client, progress=False)
        assert (tmp_path / "died").exists()
        pd.testing.assert_frame_equal(pd.read_parquet(out).reset_index(drop=True), t, check_dtype=False)
        with pytest.raises(ScaleError, match="worker died on every try.*nothing was written"):
            write_dataset(map_table(_die_on("o00600"), ddf, ddf._meta), tmp_path / "bad", client=client,
                          progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["died", "ok"]
