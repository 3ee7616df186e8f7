"""The one train/validation split of the package."""

from __future__ import annotations

import numpy as np

from ..validation import check_random_state

__all__ = ["train_validation_split"]


def train_validation_split(n: int, validation_fraction: float, random_state=None, *,
                           max_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Random indices ``(train, validation)`` of ``n`` samples; at least one of each.

    Parameters
    ----------
    n : int
        Number of samples (>= 2).
    validation_fraction : float
        Fraction held out for validation, in ``(0, max_fraction)``.
    random_state : int, numpy Generator or None

    Examples
    --------
    >>> train, val = train_validation_split(10, 0.2, 0)
    >>> len(train), len(val)
    (8, 2)
    """
    frac = float(validation_fraction)
    if not 0.0 < frac < max_fraction:
        raise ValueError(f"validation_fraction must lie in (0, {max_fraction}), got {validation_fraction!r}")
    n = int(n)
    if n < 2:
        raise ValueError(f"need at least 2 samples to split into training and validation, got {n}")
    perm = check_random_state(random_state).permutation(n)
    n_val = min(max(1, int(round(frac * n))), n - 1)
    return perm[n_val:], perm[:n_val]
