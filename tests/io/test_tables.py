import numpy as np
import pandas as pd
import pytest

from agnlab.io import read_table, write_table


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".fits", ".h5"])
def test_table_roundtrip(tmp_path, rng, suffix):
    df = pd.DataFrame({"ra": rng.uniform(0, 360, 20), "dec": rng.uniform(-90, 90, 20), "n": np.arange(20)})
    path = write_table(df, tmp_path / f"t{suffix}")
    back = read_table(path)
    np.testing.assert_allclose(back["ra"].to_numpy(), df["ra"].to_numpy(), rtol=1e-12, atol=0)
    assert back["n"].tolist() == list(range(20))


def test_bad_tables(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "none.csv")
    bad = tmp_path / "t.xyz"
    bad.write_text("1,2")
    with pytest.raises(ValueError, match="unknown table format"):
        read_table(bad)
    corrupt = tmp_path / "t.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="cannot read table"):
        read_table(corrupt)
