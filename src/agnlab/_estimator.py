"""The one estimator contract every learning class of agnlab follows.

:class:`AgnlabEstimator` sits on scikit-learn's ``BaseEstimator`` and adds
what sklearn leaves to each class:

* one vocabulary: ``random_state`` (int, ``numpy.random.Generator`` or None),
  ``validation_fraction``, ``n_jobs``, ``progress``; the training record is
  ``training_record_`` (a dict: sizes, timings, validation scores, history);
* one ``save``/``load``: hyperparameters from ``get_params`` (JSON), learned
  state through the ``_get_state``/``_set_state`` hooks (arrays in the
  ``.npz``, the rest JSON), kind ``agnlab.<workflow>.<Class>``, version checked,
  never executing code on load;
* threads and seeds set only for the duration of a call
  (:func:`compute_context`), restored afterwards.

Out-of-domain input is handled by :mod:`agnlab._domain`.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from .parallel import resolve_n_jobs
from .validation import check_is_fitted, check_random_state

__all__ = ["AgnlabEstimator", "compute_context", "resolve_n_jobs", "torch_seed"]

_STATE_KEY = "estimator_state"


def torch_seed(rng: np.random.Generator) -> int:
    """A torch seed drawn from ``rng`` (so a Generator passed as ``random_state`` is honoured)."""
    return int(rng.integers(0, 2**63 - 1))


_controller_cache: list = [None, -1]  # [ThreadpoolController, len(sys.modules) when it scanned]


def _threadpool_controller():
    """threadpoolctl's controller, rescanned only after new modules were imported.

    Scanning the loaded libraries costs ~1 ms (more under load), which dominated
    small ``predict`` calls; native BLAS/OpenMP libraries arrive with an import,
    so a changed ``sys.modules`` is the cue to look again.
    """
    if _controller_cache[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller_cache[0] = ThreadpoolController()
        _controller_cache[1] = len(sys.modules)
    return _controller_cache[0]


@contextlib.contextmanager
def compute_context(n_jobs=None, *, default_threads: int | None = 1, torch_rng: np.random.Generator | None = None):
    """Limit BLAS/OpenMP and torch threads, and fork torch's random state, for one call.

    Parameters
    ----------
    n_jobs : int or None
        Threads (see :func:`resolve_n_jobs`); ``None`` uses ``default_threads``,
        and ``default_threads=None`` leaves the process settings alone.
        Small-batch training defaults to one thread: measured on 2 shared cores,
        torch's default threads made it 5x slower.
    torch_rng : Generator, optional
        When given, torch's global CPU generator is seeded from it inside the
        block and restored on exit (the caller's torch random state is untouched).
    """
    threads = resolve_n_jobs(n_jobs, default=default_threads)
    with contextlib.ExitStack() as stack:
        if threads is not None:
            stack.enter_context(_threadpool_controller().limit(limits=threads))
        torch = sys.modules.get("torch")
        if torch_rng is not None and torch is None:
            import torch
        if torch is not None:
            if threads is not None:
                old = torch.get_num_threads()
                torch.set_num_threads(threads)
                stack.callback(torch.set_num_threads, old)
            if torch_rng is not None:
                stack.enter_context(torch.random.fork_rng(devices=[]))
                torch.manual_seed(torch_seed(torch_rng))
        yield


def _as_param(value):
    """JSON value back to a hyperparameter: lists become tuples (hyperparameters are immutable)."""
    if isinstance(value, list):
        return tuple(_as_param(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_param(v) for k, v in value.items()}
    return value


def _version_tuple(text) -> tuple:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class AgnlabEstimator(BaseEstimator, metaclass=abc.ABCMeta):
    """Base of every agnlab estimator (see the module docstring for the contract).

    Subclasses set ``_fitted_attributes`` (checked before predict and save) and
    implement ``_get_state() -> (arrays, meta)`` and ``_set_state(arrays, meta)``
    for what ``fit`` learned; hyperparameters are saved by the base. A class
    whose saved layout changes bumps ``_state_version``.
    """

    _fitted_attributes: ClassVar[tuple[str, ...]] = ()
    _state_version: ClassVar[int] = 1

    # ------------------------------------------------------------------ identity
    @classmethod
    def artifact_kind(cls) -> str:
        """What saved files of this class are called: ``agnlab.<workflow>.<Class>``."""
        parts = cls.__module__.split(".")
        workflow = parts[1] if len(parts) > 1 and parts[0] == "agnlab" else parts[0]
        return f"agnlab.{workflow.lstrip('_')}.{cls.__name__}"

    def _check_fitted(self) -> None:
        check_is_fitted(self, list(self._fitted_attributes))

    def __sklearn_is_fitted__(self) -> bool:
        return all(getattr(self, a, None) is not None for a in self._fitted_attributes)

    def _rng(self) -> np.random.Generator:
        """A Generator from ``random_state`` (int, Generator or None)."""
        return check_random_state(getattr(self, "random_state", None))

    # ------------------------------------------------------------------ persistence hooks
    @abc.abstractmethod
    def _get_state(self) -> tuple[dict, dict]:
        """``(arrays, meta)`` describing what ``fit`` learned (arrays numeric, meta JSON-able)."""

    @abc.abstractmethod
    def _set_state(self, arrays: dict, meta: dict) -> None:
        """Restore what ``fit`` learned from the output of :meth:`_get_state`."""

    def _saved_params(self) -> dict:
        params = self.get_params(deep=False)
        if isinstance(params.get("random_state"), np.random.Generator):
            params["random_state"] = None  # a Generator's state is not a hyperparameter worth keeping
        return params

    # ------------------------------------------------------------------ save / load
    def save(self, path) -> Path:
        """Write the fitted estimator to an agnlab ``.npz`` artifact (arrays + JSON, no pickle).

        Returns the path written (``.npz`` appended when missing).
        """
        from .io import save_artifact

        self._check_fitted()
        arrays, state = self._get_state()
        meta = {
            "params": self._saved_params(),
            "state_version": self._state_version,
            _STATE_KEY: state,
            "training_record": getattr(self, "training_record_", None) or {},
        }
        return save_artifact(path, kind=self.artifact_kind(), arrays=arrays, metadata=meta)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save`; never executes code.

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist.
        agnlab.io.ArtifactError
            Corrupt file, pickled content, another kind of model, or a file
            written by a newer agnlab / in a layout this version cannot read.
        """
        from . import __version__
        from .io import ArtifactError, load_artifact

        arrays, meta = load_artifact(path, kind=cls.artifact_kind())
        written_by = meta.get("_agnlab_version") or "0"
        if _version_tuple(written_by) > _version_tuple(__version__):
            raise ArtifactError(f"{path}: written by agnlab {written_by}, newer than the installed {__version__}; "
                                "upgrade agnlab to read it")
        if _STATE_KEY not in meta:
            return cls._load_legacy(path, arrays, meta)
        version = meta.get("state_version", 1)
        if not isinstance(version, int) or version > cls._state_version:
            raise ArtifactError(f"{path}: {cls.__name__} file layout {version!r} is newer than this agnlab "
                                f"reads ({cls._state_version}); upgrade agnlab")
        try:
            params = {k: _as_param(v) for k, v in dict(meta["params"]).items()}
            accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
            unknown = sorted(set(params) - accepted)
            if unknown:
                raise ValueError(f"unknown hyperparameter(s) {unknown}")
            est = cls(**params)
            est._set_state(arrays, dict(meta[_STATE_KEY]))
            est.training_record_ = dict(meta.get("training_record") or {})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ArtifactError(f"{path}: incomplete or inconsistent {cls.__name__} file ({exc})") from None
        return est

    @classmethod
    def _load_legacy(cls, path, arrays: dict, meta: dict):
        """Files written before the shared contract; subclasses that can read them override this."""
        from .io import ArtifactError

        raise ArtifactError(f"{path}: a {cls.__name__} file written by agnlab "
                            f"{meta.get('_agnlab_version')} in an older layout that this version no longer "
                            "reads; refit the model (or load it with that version and save it again)")
