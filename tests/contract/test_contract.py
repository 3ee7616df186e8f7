"""The estimator contract (issue 9), checked on every public estimator of agnlab.

Each workflow lists its estimators as :class:`ContractCase` objects in
``cases_<workflow>.py`` beside this file; ``test_every_public_estimator_has_a_case``
fails when a public estimator has none.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import agnlab
from agnlab import AgnlabEstimator
from agnlab.io import ArtifactError, save_artifact

HERE = Path(__file__).resolve().parent


def _load_cases():
    cases = []
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name.startswith("cases_"):
            mod = importlib.import_module(f"{__package__}.{info.name}" if __package__ else info.name)
            cases.extend(mod.CASES)
    return cases


CASES = _load_cases()
IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def fitted_cache():
    return {}


def _fitted(case, cache):
    if case.name not in cache:
        est = case.make()
        case.fit(est)
        cache[case.name] = est
    return cache[case.name]


# --------------------------------------------------------------------------- helpers
def _fingerprint(value):
    """A comparable summary of an attribute value (arrays and weights by content)."""
    import torch

    if isinstance(value, np.ndarray):
        return ("array", value.shape, str(value.dtype), hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
                if value.dtype != object else repr(value.tolist()))
    if isinstance(value, torch.nn.Module):
        return ("module", tuple((k, _fingerprint(v.detach().cpu().numpy())) for k, v in value.state_dict().items()))
    if isinstance(value, torch.Tensor):
        return _fingerprint(value.detach().cpu().numpy())
    if isinstance(value, pd.DataFrame):
        return ("frame", tuple(value.columns), int(pd.util.hash_pandas_object(value, index=True).sum()))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _fingerprint(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return ("scalar", repr(value))
    return ("object", type(value).__name__, id(value))


def _public_state(est) -> dict:
    return {k: _fingerprint(v) for k, v in vars(est).items() if not k.startswith("_")}


def _assert_same_output(a, b, *, rtol=0.0):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_output(x, y, rtol=rtol)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=rtol == 0.0, rtol=max(rtol, 1e-300))
    else:
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_base_class_and_api_checks(case):
    est = case.make()
    assert isinstance(est, AgnlabEstimator), f"{case.name} must derive from agnlab._estimator.AgnlabEstimator"
    name = type(est).__name__
    check_no_attributes_set_in_init(name, est)
    check_parameters_default_constructible(name, est)
    check_get_params_invariance(name, est)
    check_set_params(name, est)
    assert type(est).artifact_kind() == f"agnlab.{type(est).__module__.split('.')[1]}.{name}"


SKLEARN_CASES = [c for c in CASES if c.sklearn_checks is not None]


@pytest.mark.parametrize("case", SKLEARN_CASES, ids=[c.name for c in SKLEARN_CASES])
def test_sklearn_estimator_checks(case):
    """scikit-learn's own checks for (X, y) estimators: all pass but the documented exemptions."""
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(case.make(), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    unexpected = {k: v for k, v in failed.items() if k not in case.sklearn_checks}
    assert not unexpected, f"{case.name}: sklearn checks failed: {unexpected}"
    stale = sorted(set(case.sklearn_checks) - set(failed))
    assert not stale, f"{case.name}: exempted checks now pass, remove the exemptions: {stale}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shared_vocabulary(case):
    params = case.make().get_params(deep=False)
    for old, new in (("seed", "random_state"), ("val_fraction", "validation_fraction"),
                     ("num_threads", "n_jobs"), ("progress_bar", "progress")):
        assert old not in params, f"{case.name}: hyperparameter {old!r} must be called {new!r}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clone_and_not_fitted(case, tmp_path):
    est = case.make()
    twin = clone(est)
    assert twin.get_params() == est.get_params() or repr(twin) == repr(est)
    with pytest.raises(NotFittedError):
        case.predict(est)
    with pytest.raises(NotFittedError):
        est.save(tmp_path / "m.npz")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fit_returns_self_and_predict_leaves_estimator_unchanged(case, fitted_cache):
    est = case.make()
    assert case.fit(est) is est
    fitted_cache[case.name] = est
    assert isinstance(getattr(est, "training_record_", None), dict), f"{case.name}: fit must set training_record_"
    before = _public_state(est)
    params = est.get_params(deep=False)
    case.predict(est)
    case.predict(est)
    assert _public_state(est) == before, f"{case.name}: predict changed the estimator's attributes"
    assert est.get_params(deep=False).keys() == params.keys()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_seed_same_result(case, fitted_cache):
    a = _fitted(case, fitted_cache)
    b = case.make()
    case.fit(b)
    _assert_same_output(case.predict(a), case.predict(b))   # exact: same seed, same numbers


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_load_round_trip(case, fitted_cache, tmp_path):
    est = _fitted(case, fitted_cache)
    path = est.save(tmp_path / "model.npz")
    loaded = type(est).load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    _assert_same_output(case.predict(est), case.predict(loaded), rtol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_out_of_domain(case, fitted_cache):
    if case.out_of_domain is None:
        pytest.skip(f"{case.name} has no trained domain (documented in its docstring)")
    case.out_of_domain(_loaded_copy(case, fitted_cache))


def _loaded_copy(case, cache):
    """A loaded copy of the fitted estimator (so ``set_params`` in a check does not leak into the cache)."""
    import tempfile

    est = _fitted(case, cache)
    with tempfile.TemporaryDirectory() as tmp:
        return type(est).load(est.save(Path(tmp) / "m.npz"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_fit_input(case):
    if not case.bad_fit:
        pytest.skip("no bad-input cases listed")
    for label, call in case.bad_fit.items():
        with pytest.raises((ValueError, TypeError)) as info:
            call(case.make())
        assert str(info.value), f"{case.name}/{label}: the error must say what is wrong"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_predict_input(case, fitted_cache):
    if not case.bad_predict:
        pytest.skip("no bad-input cases listed")
    est = _fitted(case, fitted_cache)
    for label, call in case.bad_predict.items():
        with pytest.raises((ValueError, TypeError)) as info:
            call(est)
        assert str(info.value), f"{case.name}/{label}: the error must say what is wrong"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_model_files(case, fitted_cache, tmp_path, monkeypatch):
    cls = type(_fitted(case, fitted_cache))
    other = save_artifact(tmp_path / "other.npz", kind="agnlab.other.Thing", arrays={"a": np.zeros(2)})
    with pytest.raises(ArtifactError, match="expected"):
        cls.load(other)
    good = _fitted(case, fitted_cache).save(tmp_path / "good.npz")
    monkeypatch.setattr(agnlab, "__version__", "99.0.0")
    newer = _fitted(case, fitted_cache).save(tmp_path / "newer.npz")
    monkeypatch.undo()
    with pytest.raises(ArtifactError, match="newer"):
        cls.load(newer)
    # a pickle-bearing file is refused without executing anything
    marker = tmp_path / "executed"
    with np.load(good, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["evil"] = np.array([_Evil(marker)], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ArtifactError, match="pickle"):
        cls.load(tmp_path / "evil.npz")
    assert not marker.exists()
    # truncated and non-zip files
    data = Path(good).read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("not a model")
    for bad in ("cut.npz", "text.npz"):
        with pytest.raises(ArtifactError):
            cls.load(tmp_path / bad)
    with zipfile.ZipFile(good) as zf:
        assert "__agnlab_metadata__.npy" in zf.namelist()
        json.loads(np.load(good)["__agnlab_metadata__"].tobytes())


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).touch, ())


# --------------------------------------------------------------------------- completeness
_WORKFLOW_PACKAGES = ("emulate", "population", "nebular", "spectra", "inference", "lightcurves", "explore",
                      "catalog", "grids", "photometry")


def _public_estimators():
    found = {}
    for pkg in _WORKFLOW_PACKAGES:
        try:
            mod = importlib.import_module(f"agnlab.{pkg}")
        except ModuleNotFoundError:
            continue
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if isinstance(obj, type) and issubclass(obj, BaseEstimator):
                found[obj.__name__] = obj
    return found


def test_every_public_estimator_has_a_case():
    missing = sorted(set(_public_estimators()) - set(IDS))
    assert not missing, f"public estimators without a contract case: {missing}"


def test_every_public_estimator_uses_the_shared_base():
    bad = sorted(n for n, c in _public_estimators().items() if not issubclass(c, AgnlabEstimator))
    assert not bad, f"public estimators not built on agnlab._estimator.AgnlabEstimator: {bad}"
