"""What a workflow provides so the shared contract test can check one of its estimators."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class ContractCase:
    """One public estimator, with small data to fit and predict.

    Attributes
    ----------
    make : callable() -> estimator
        Small, fast hyperparameters and an int ``random_state``.
    fit : callable(estimator) -> estimator
        Fits on small built-in data; returns what ``fit`` returned.
    predict : callable(estimator) -> output
        Predicts on held-out data (array, DataFrame or tuple of them).
    out_of_domain : callable(estimator) -> None, optional
        Asserts that out-of-domain input raises ``agnlab.OutOfDomainError`` or
        is flagged as documented.
    bad_fit : dict of str -> callable(estimator), optional
        Calls of ``fit`` with bad input (NaN/inf, wrong shape, empty, wrong
        dtype); each must raise ``ValueError`` or ``TypeError`` naming the problem.
    bad_predict : dict of str -> callable(fitted estimator), optional
        The same for prediction.
    sklearn_checks : dict of str -> str, optional
        For ``(X, y)``-shaped estimators: run scikit-learn's own estimator
        checks; every check must pass except those named here, each with the
        reason it does not apply.
    """

    name: str
    make: Callable[[], Any]
    fit: Callable[[Any], Any]
    predict: Callable[[Any], Any]
    out_of_domain: Callable[[Any], None] | None = None
    bad_fit: dict = dataclasses.field(default_factory=dict)
    bad_predict: dict = dataclasses.field(default_factory=dict)
    sklearn_checks: dict | None = None
