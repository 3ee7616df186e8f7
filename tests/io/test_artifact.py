import pickle
import zipfile

import numpy as np
import pytest

from agnlab.io import ArtifactError, atomic_path, load_artifact, save_artifact


def test_roundtrip_keeps_arrays_and_metadata(tmp_path, rng):
    arrays = {"w": rng.normal(size=(3, 4)).astype(np.float32), "names": np.array(["a", "b"])}
    path = save_artifact(tmp_path / "m", kind="test.Kind", arrays=arrays, metadata={"x": 1.5, "ranges": [0, 1]})
    assert path.suffix == ".npz"
    got, meta = load_artifact(path, kind="test.Kind")
    np.testing.assert_allclose(got["w"], arrays["w"], rtol=0, atol=0)
    assert got["names"].tolist() == ["a", "b"]
    assert meta["x"] == 1.5 and meta["ranges"] == [0, 1]
    assert meta["_kind"] == "test.Kind" and meta["_agnlab_version"]


def test_wrong_kind_is_refused(tmp_path):
    path = save_artifact(tmp_path / "m.npz", kind="a", arrays={"x": np.zeros(2)}, metadata={})
    with pytest.raises(ArtifactError, match="expected 'b'"):
        load_artifact(path, kind="b")


def test_pickle_bearing_file_is_refused_without_executing(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    blob = np.array(["meta"], dtype=object)
    np.savez(path, __agnlab_metadata__=np.frombuffer(b'{"kind": "x"}', dtype=np.uint8),
             payload=np.array([Evil()], dtype=object), other=blob)
    with pytest.raises(ArtifactError, match="pickled"):
        load_artifact(path)
    assert not marker.exists()
    # A raw pickle renamed to .npz is not even an archive.
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ArtifactError, match="not an npz"):
        load_artifact(raw)


def test_truncated_and_foreign_files(tmp_path):
    path = save_artifact(tmp_path / "m.npz", kind="a", arrays={"x": np.arange(1000.0)}, metadata={})
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError):
        load_artifact(cut)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    with pytest.raises(ArtifactError, match="no agnlab metadata"):
        load_artifact(plain)
    with pytest.raises(FileNotFoundError):
        load_artifact(tmp_path / "absent.npz")
    assert zipfile.is_zipfile(path)


def test_object_arrays_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        save_artifact(tmp_path / "m", kind="a", arrays={"x": np.array([{}], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
