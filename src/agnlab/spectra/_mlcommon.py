"""Pieces shared by the learned spectra models: truth tables, features, networks' blocks."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from .._validation import check_columns

__all__ = ["LYA_AA", "LYB_AA", "C_KMS", "truth_z", "truth_dlas", "conv_block", "SpectraWarning"]

LYA_AA = 1215.67
LYB_AA = 1025.72
C_KMS = 299792.458


class SpectraWarning(UserWarning):
    """Something in the input was masked or flagged (not an error, but not silent either)."""


def truth_z(truth, n: int) -> np.ndarray:
    """``z_qso`` column of a truth table as float array, checked against ``n`` spectra."""
    if isinstance(truth, (np.ndarray, list, tuple)) and np.ndim(truth) == 1:
        z = np.asarray(truth, dtype=float)
    else:
        check_columns(truth, ["z_qso"], name="truth")
        z = np.asarray(truth["z_qso"], dtype=float)
    if z.shape != (n,):
        raise ValueError(f"truth: z_qso has {z.size} rows but there are {n} spectra")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"truth: {int((~np.isfinite(z)).sum())} non-finite z_qso values")
    if np.any(z <= 0):
        raise ValueError(f"truth: {int((z <= 0).sum())} z_qso values <= 0")
    return z


def _as_list(v):
    if v is None:
        return np.zeros(0)
    if isinstance(v, str):
        v = v.strip().strip("[]")
        return np.array([float(x) for x in v.replace(",", " ").split()]) if v else np.zeros(0)
    arr = np.atleast_1d(np.asarray(v, dtype=float))
    return arr[np.isfinite(arr)]


def truth_dlas(truth, n: int, *, dlas=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-spectrum DLA lists ``[(z_dla (k,), log_nhi (k,)), ...]`` from a truth table.

    Accepted layouts:

    * a table whose ``z_dla`` and ``log_nhi`` columns hold one sequence per
      spectrum (lists, arrays or strings such as ``"[2.31 2.85]"``), used
      first when present;
    * a separate per-DLA table ``dlas`` with columns ``spec_index`` (or
      ``qso_index`` / ``index``), ``z_dla`` and ``log_nhi``, passed as ``dlas``
      or found as ``truth.attrs['dlas']``.
    """
    cols = list(getattr(truth, "columns", getattr(truth, "colnames", [])))
    if dlas is None and not ("z_dla" in cols and "log_nhi" in cols) and isinstance(getattr(truth, "attrs", None), dict):
        dlas = truth.attrs.get("dlas")
    if dlas is not None:
        idx_col = next((c for c in ("spec_index", "qso_index", "index", "row") if c in list(dlas.columns)), None)
        if idx_col is None:
            raise ValueError(f"dlas table needs a spec_index column; has {list(dlas.columns)}")
        check_columns(dlas, ["z_dla", "log_nhi"], name="dlas")
        idx = np.asarray(dlas[idx_col], dtype=int)
        zd = np.asarray(dlas["z_dla"], dtype=float)
        nh = np.asarray(dlas["log_nhi"], dtype=float)
        out = [(zd[idx == i], nh[idx == i]) for i in range(n)]
        return out
    check_columns(truth, ["z_dla", "log_nhi"], name="truth")
    zcol, ncol = truth["z_dla"], truth["log_nhi"]
    zcol = zcol.to_numpy() if hasattr(zcol, "to_numpy") else np.asarray(zcol, dtype=object)
    ncol = ncol.to_numpy() if hasattr(ncol, "to_numpy") else np.asarray(ncol, dtype=object)
    if len(zcol) != n:
        raise ValueError(f"truth: z_dla has {len(zcol)} rows but there are {n} spectra")
    out = []
    for i in range(n):
        zd, nh = _as_list(zcol[i]), _as_list(ncol[i])
        if zd.size != nh.size:
            raise ValueError(f"truth row {i}: {zd.size} z_dla values but {nh.size} log_nhi values")
        out.append((zd, nh))
    return out


def conv_block(c_in: int, c_out: int, kernel: int, *, dilation: int = 1, pool: bool = True) -> nn.Sequential:
    """Conv1d -> BatchNorm -> ReLU (-> MaxPool 2)."""
    layers = [nn.Conv1d(c_in, c_out, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False),
              nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


def spectral_features(flux: np.ndarray, ivar: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Two input channels: normalised flux and log S/N of a unit-normalised pixel.

    Parameters
    ----------
    flux, ivar : ndarray, shape (n, n_pix)
    scale : ndarray, shape (n,)
        Per-spectrum flux scale (positive).

    Returns
    -------
    ndarray float32, shape (n, 2, n_pix); masked pixels are 0 in both channels.
    """
    valid = ivar > 0
    s = scale[:, None].astype(np.float32)
    f = np.clip(flux / s, -5.0, 10.0)
    f = np.where(valid, f, 0.0)
    snr = np.where(valid, np.log1p(np.sqrt(np.maximum(ivar, 0)) * s) / 3.0, 0.0)
    return np.stack([f, snr], axis=1).astype(np.float32)


def robust_scale(flux: np.ndarray, ivar: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-spectrum flux scale: median of valid pixels (in ``mask``), falling back to mean |flux|.

    Returns NaN where a spectrum has no valid pixel.
    """
    valid = ivar > 0
    if mask is not None:
        valid = valid & mask
    f = np.where(valid, flux, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(f, axis=1)
        mabs = np.nanmean(np.abs(f), axis=1)
    bad = ~(med > 0)
    med = np.where(bad, mabs, med)
    med = np.where(med > 0, med, np.nan)
    return med


def fused_for_inference(net):
    """Eval-mode copy of ``net`` with every Conv1d + BatchNorm1d pair folded into one Conv1d.

    Same outputs (to float rounding), ~20 % faster on CPU. Objects that are not
    ``torch.nn.Module`` are returned unchanged.
    """
    import copy

    if not isinstance(net, nn.Module):
        return net
    net = copy.deepcopy(net).eval()
    for mod in net.modules():
        if not isinstance(mod, nn.Sequential):
            continue
        for i in range(len(mod) - 1):
            conv, bn = mod[i], mod[i + 1]
            if isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d):
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                  padding=conv.padding, dilation=conv.dilation, bias=True)
                bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
                fused.weight.data = conv.weight.detach() * scale[:, None, None]
                fused.bias.data = (bias - bn.running_mean) * scale + bn.bias.detach()
                mod[i] = fused
                mod[i + 1] = nn.Identity()
    return net.eval()


def inference_net(est):
    """The fused inference copy of ``est.net_`` (rebuilt when ``net_`` changes)."""
    cached = getattr(est, "_infer_cache", None)
    if cached is None or cached[0] is not est.net_:
        cached = (est.net_, fused_for_inference(est.net_))
        est._infer_cache = cached
    return cached[1]


def default_z_range(z) -> tuple[float, float]:
    """Trained redshift range from training redshifts: min/max rounded outwards to 0.1."""
    z = np.asarray(z, float)
    return float(np.floor(z.min() * 10 + 1e-9) / 10), float(np.ceil(z.max() * 10 - 1e-9) / 10)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(int(n))


def save_estimator(est, path, *, kind: str, arrays: dict, metadata: dict):
    """Save a fitted spectra CNN estimator: hyperparameters, weights + ``arrays``, ``metadata``."""
    from ..io import save_artifact
    from ..nn import module_to_arrays

    meta = {"params": est.get_params(), "z_range": list(est.z_range_), "history": est.history_, **metadata}
    return save_artifact(path, kind=kind, arrays={**module_to_arrays(est.net_), **arrays}, metadata=meta)


def load_estimator(cls, path, *, kind: str, tuple_params=("channels", "dilations", "z_range")):
    """Read a file written by :func:`save_estimator`: returns ``(estimator, arrays, metadata)``.

    The estimator is built from the saved hyperparameters (JSON lists back to tuples) and gets
    ``z_range_`` and ``history_``; the caller builds and loads the network.
    """
    from ..io import ArtifactError, load_artifact

    arrays, meta = load_artifact(path, kind=kind)
    try:
        params = dict(meta["params"])
        for key in tuple_params:
            if params.get(key) is not None:
                params[key] = tuple(params[key])
        est = cls(**params)
        est.z_range_ = tuple(meta["z_range"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: inconsistent {cls.__name__} file ({exc})") from None
    est.history_ = meta.get("history", {})
    return est, arrays, meta
