"""The Te/Ne forward problem as a callable: theta = [Te (K), log10 Ne] -> log10 diagnostic ratios.

One home for the forward model that solution-set searches, tests and
benchmarks call (``agnlab.inference.solution_set(temden_forward(), ...)``):
direct PyNeb emissivities (:class:`TeNeForward`, counts its calls) or the same
model tabulated on a Te x log Ne grid and interpolated
(``temden_forward(table_shape=(n_te, n_ne))``, an
:class:`agnlab.inference.GridForward`).
"""

from __future__ import annotations

import numpy as np

from ._forward import diagnostic_ratio, get_diagnostic

__all__ = ["TEMDEN_BOUNDS", "TeNeForward", "temden_forward"]

TEMDEN_BOUNDS = np.array([[5000.0, 25000.0], [0.0, 5.0]])
TEMDEN_BOUNDS.setflags(write=False)
"""Default search box: Te 5,000-25,000 K, log10 Ne 0-5 (cm^-3); rows = parameters, columns = (low, high)."""

TEMDEN_PARAM_NAMES = ("te_k", "log_ne_cm3")


class TeNeForward:
    """Vectorised Te/Ne forward model computed directly with PyNeb emissivities.

    Parameters
    ----------
    tem_diag, den_diag : str
        PyNeb diagnostic names (ratios exactly as PyNeb defines them).

    Attributes
    ----------
    n_calls, n_rows : int
        Calls made and parameter vectors evaluated so far.
    param_names : list of str

    Notes
    -----
    ``theta`` (n, 2) = [Te in K, log10 Ne in cm^-3] -> (n, 2) = log10 of
    [temperature ratio, density ratio]. Te and Ne must be finite and positive.
    """

    def __init__(self, tem_diag: str = "[OIII] 4363/5007", den_diag: str = "[SII] 6731/6716"):
        self.tem_diag = get_diagnostic(tem_diag).name
        self.den_diag = get_diagnostic(den_diag).name
        self.param_names = list(TEMDEN_PARAM_NAMES)
        self.n_calls = 0
        self.n_rows = 0

    def __call__(self, theta) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.ndim != 2 or theta.shape[1] != 2:
            raise ValueError(f"theta must have shape (n, 2) = [te_k, log_ne_cm3], got {theta.shape}")
        self.n_calls += 1
        self.n_rows += theta.shape[0]
        te, ne = theta[:, 0], 10.0 ** theta[:, 1]
        return np.log10(np.stack([diagnostic_ratio(self.tem_diag, te, ne),
                                  diagnostic_ratio(self.den_diag, te, ne)], axis=1))


def temden_forward(tem_diag: str = "[OIII] 4363/5007", den_diag: str = "[SII] 6731/6716", *,
                   table_shape=None, bounds=TEMDEN_BOUNDS):
    """The Te/Ne forward model: theta (n, 2) = [Te (K), log10 Ne (cm^-3)] -> (n, 2) log10 ratios.

    Parameters
    ----------
    tem_diag, den_diag : str
        PyNeb diagnostic names.
    table_shape : (int, int), optional
        ``None``: direct PyNeb emissivities (:class:`TeNeForward`).
        ``(n_te, n_ne)``: the model tabulated once on a regular Te x log Ne
        grid over ``bounds`` and interpolated cubically
        (:class:`agnlab.inference.GridForward`; NaN outside ``bounds``).
    bounds : array_like, shape (2, 2)
        [[Te low, Te high], [log Ne low, log Ne high]] of the table.

    Returns
    -------
    callable
        With ``param_names == ["te_k", "log_ne_cm3"]``.

    Examples
    --------
    >>> from agnlab.nebular import temden_forward
    >>> f = temden_forward(table_shape=(41, 51))
    >>> f([[1e4, 2.0]]).shape
    (1, 2)
    """
    if table_shape is None:
        return TeNeForward(tem_diag, den_diag)
    from ..inference import GridForward

    try:
        n_te, n_ne = (int(x) for x in table_shape)
    except (TypeError, ValueError):
        raise ValueError(f"table_shape must be two ints (n_te, n_ne), got {table_shape!r}") from None
    if min(n_te, n_ne) < 4:
        raise ValueError(f"table_shape needs >= 4 nodes per axis for cubic interpolation, got {table_shape!r}")
    b = np.asarray(bounds, dtype=float)
    if b.shape != (2, 2) or not (0 < b[0, 0] < b[0, 1]) or not b[1, 0] < b[1, 1]:
        raise ValueError(f"bounds must be [[te_lo, te_hi], [log_ne_lo, log_ne_hi]] with 0 < te_lo, got {bounds!r}")
    te = np.linspace(b[0, 0], b[0, 1], n_te)
    log_ne = np.linspace(b[1, 0], b[1, 1], n_ne)
    te2, ne2 = te[:, None], 10 ** log_ne[None, :]
    ratios = [diagnostic_ratio(d, te2, ne2) for d in (tem_diag, den_diag)]
    return GridForward([te, log_ne], np.log10(np.stack(ratios, axis=-1)), method="cubic",
                       param_names=list(TEMDEN_PARAM_NAMES))
