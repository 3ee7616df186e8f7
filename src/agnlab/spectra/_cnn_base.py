"""What the two spectra CNN estimators share: the estimator contract, training, inference, legacy files.

:class:`SpectraCNNEstimator` is private plumbing for :class:`RedshiftEstimator`
and :class:`DLAFinder`: the fused inference copy of the network (built when
the network is set, at fit/load time), batched forward passes inside
:func:`agnlab._estimator.compute_context`, one training call through
:func:`agnlab.nn.fit_module`, and reading files written before the shared
estimator contract.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from .._estimator import AgnlabEstimator, _as_param, compute_context
from .._progress import progress as _progress
from ..nn import TrainConfig, arrays_to_module, fit_module, module_to_arrays
from ._mlcommon import fused_for_inference
from ._rebin import LogRebinner

__all__ = ["SpectraCNNEstimator"]

#: hyperparameter names of files written before the shared vocabulary
_LEGACY_NAMES = {"seed": "random_state", "val_fraction": "validation_fraction", "num_threads": "n_jobs",
                 "progress_bar": "progress"}


class SpectraCNNEstimator(AgnlabEstimator):
    """Private base of the spectra CNN estimators (see the module docstring)."""

    _fitted_attributes = ("net_",)

    # -- network ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _build_net(self, meta: dict):
        """A fresh (untrained) network for the shapes in ``meta``."""

    def _set_net(self, net) -> None:
        """Set ``net_`` (eval mode) and build its fused inference copy once (private; not a learned attribute)."""
        self.net_ = net.eval()
        self._infer = (self.net_, fused_for_inference(self.net_))

    def _inference_net(self):
        cached = getattr(self, "_infer", None)
        if cached is not None and cached[0] is self.net_:
            return cached[1]
        return fused_for_inference(self.net_)   # net_ replaced by hand: fuse for this call, cache nothing

    def _forward(self, X, *, batch_size: int, desc: str, empty_shape: tuple) -> np.ndarray:
        """Network outputs for inputs ``X`` in batches (threads per ``n_jobs``, restored afterwards)."""
        net = self._inference_net()
        outs = []
        with compute_context(self.n_jobs, default_threads=None), torch.inference_mode():
            for s in _progress(range(0, X.shape[0], batch_size), desc=desc,
                               disable=None if self.progress is None else not self.progress):
                outs.append(net(torch.from_numpy(np.ascontiguousarray(X[s:s + batch_size]))).numpy())
        return np.concatenate(outs) if outs else np.zeros((0, *empty_shape), np.float32)

    def _train(self, make_net, X, targets: tuple, train_idx, val_idx, *, loss_fn, torch_rng, train_seed: int,
               desc: str, warm_state=None):
        """Build the network (initialised from ``torch_rng``) and train it; returns ``(net, fit_module result)``.

        ``n_jobs=None`` leaves the process' thread setting alone during training (as before the contract).
        ``warm_state``: the state dict to start from with ``warm_start`` (default: the fitted network's).
        """
        cfg = TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                          max_epochs=self.max_epochs, patience=self.patience, seed=train_seed,
                          lr_patience=max(self.patience // 3, 1))
        with compute_context(self.n_jobs, default_threads=None, torch_rng=torch_rng):
            net = make_net()
            if getattr(self, "warm_start", False) and getattr(self, "net_", None) is not None:
                try:
                    net.load_state_dict(self.net_.state_dict() if warm_state is None else warm_state)
                except RuntimeError as exc:
                    raise ValueError("warm_start=True but the fitted network does not match the new one "
                                     f"(different shapes: {str(exc).splitlines()[0]}); fit with warm_start=False"
                                     ) from None
            hist = fit_module(net, X[train_idx], tuple(t[train_idx] for t in targets), X[val_idx],
                              tuple(t[val_idx] for t in targets), config=cfg, loss_fn=loss_fn,
                              progress=self.progress, desc=desc)
        return net, hist

    def _rebinner(self, wave_aa, grid) -> LogRebinner:
        """Rebinning weights for this input grid (a private cache of the last few input grids, not learned state).

        Several entries, so that raw spectra and :func:`rebin_spectra` output can alternate.
        """
        cache = getattr(self, "_rebinner_cache", None)
        if not isinstance(cache, list):
            cache = self._rebinner_cache = []
        for reb in cache:
            if reb.matches(wave_aa) and reb.wave_out_aa.size == grid.size:
                return reb
        reb = LogRebinner(wave_aa, grid)
        cache.insert(0, reb)
        del cache[4:]
        return reb

    # -- persistence --------------------------------------------------------------------------
    @classmethod
    def pretrained(cls, *, model_dir=None, **params):
        """The default model shipped with agnlab (4MOST-like simulated training set; see its ``model_card_``).

        Parameters
        ----------
        model_dir : path, optional
            Folder with the model files (default: the package's ``agnlab/spectra/models``).
        **params
            Hyperparameters to set after loading (``n_jobs``, ``progress``, ...).

        Returns
        -------
        estimator
            Fitted, with ``model_card_`` (dict: simulator settings, training size, epochs, held-out
            metrics, date, command).

        Raises
        ------
        agnlab.spectra.PretrainedModelError
            The files are missing or do not match the model card (a ``FileNotFoundError``).
        """
        from ._pretrained import load_pretrained

        return load_pretrained(cls, model_dir=model_dir, **params)

    def save(self, path, *, weights_dtype: str = "float32"):
        """Write the fitted estimator (see :meth:`AgnlabEstimator.save`).

        ``weights_dtype="float16"`` stores the network weights at half precision (half the file
        size); loading always restores float32 networks.
        """
        if weights_dtype not in ("float32", "float16"):
            raise ValueError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}")
        self._weights_dtype = weights_dtype
        try:
            return super().save(path)
        finally:
            del self._weights_dtype

    def _net_arrays(self) -> dict:
        arrays = module_to_arrays(self.net_)
        dtype = getattr(self, "_weights_dtype", "float32")
        if dtype != "float32":
            arrays = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays.items()}
        return arrays

    def _restore_net(self, arrays: dict, meta: dict) -> None:
        net = self._build_net(meta)
        arrays = {k: np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" and k.startswith("nn.") else v
                  for k, v in arrays.items()}
        arrays_to_module(net, arrays)
        self._set_net(net)

    @classmethod
    def _load_legacy(cls, path, arrays: dict, meta: dict):
        """Files written before the shared contract (``seed``/``val_fraction``/``num_threads``, ``history``)."""
        from ..io import ArtifactError

        try:
            params = {_LEGACY_NAMES.get(k, k): _as_param(v) for k, v in dict(meta["params"]).items()}
            est = cls(**params)
            est._set_state(arrays, meta)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ArtifactError(f"{path}: inconsistent {cls.__name__} file ({exc})") from None
        est.training_record_ = dict(meta.get("history") or {})
        return est
