"""One scheme for out-of-domain input: an error class, a policy, and per-row flags that are returned.

Every estimator whose predictions are only valid inside a trained domain takes
``on_out_of_domain="raise"`` (raise :class:`OutOfDomainError`, the default where
silence would mislead) or ``"nan"`` (predict NaN and flag the row). Flags are
strings, ``"ok"`` when the row is fine, and are *returned* by the prediction
(``predict(X, return_flags=True)`` for arrays, a ``flag`` column for tables);
they are never stored on the estimator, so ``predict`` leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["FLAG_OK", "FLAG_OUT_OF_DOMAIN", "ON_OUT_OF_DOMAIN", "OutOfDomainError",
           "check_on_out_of_domain", "domain_flags"]

FLAG_OK = "ok"
FLAG_OUT_OF_DOMAIN = "out_of_domain"
ON_OUT_OF_DOMAIN = ("raise", "nan")


class OutOfDomainError(ValueError):
    """Input lies outside the domain the model was trained on."""


def check_on_out_of_domain(value) -> str:
    """Validate an ``on_out_of_domain`` setting."""
    if value not in ON_OUT_OF_DOMAIN:
        raise ValueError(f"on_out_of_domain must be one of {ON_OUT_OF_DOMAIN}, got {value!r}")
    return value


def domain_flags(in_domain, policy: str, *, describe: Callable[[int], str] | None = None) -> np.ndarray:
    """Flags for an in-domain mask under ``policy``; raises :class:`OutOfDomainError` for ``"raise"``.

    Parameters
    ----------
    in_domain : array_like of bool, shape (n,)
    policy : {"raise", "nan"}
    describe : callable, optional
        ``describe(i)`` explains why row ``i`` is outside (used in the error message).

    Returns
    -------
    ndarray of str, shape (n,)
        ``"ok"`` or ``"out_of_domain"``.
    """
    ok = np.asarray(in_domain, dtype=bool)
    check_on_out_of_domain(policy)
    if policy == "raise" and not ok.all():
        bad = np.flatnonzero(~ok)
        detail = f" (first: row {bad[0]}: {describe(int(bad[0]))})" if describe is not None else ""
        raise OutOfDomainError(f"{bad.size} of {ok.size} rows lie outside the training domain{detail}; "
                               "pass on_out_of_domain='nan' to get NaN and a flag for them instead")
    return np.where(ok, FLAG_OK, FLAG_OUT_OF_DOMAIN)
