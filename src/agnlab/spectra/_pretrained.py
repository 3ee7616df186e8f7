"""The default models shipped in the package (``agnlab/spectra/models``) and their model cards.

Each shipped model is a pair of files written by ``scripts/train_spectra_models.py``:

* ``<name>.npz``: the estimator saved by :meth:`AgnlabEstimator.save` (arrays + JSON, no pickle);
* ``<name>.json``: its model card (simulator settings incl. seed and version, training size, epochs,
  metrics on held-out sets, date, command) and the file's SHA-256, checked on load so that a
  truncated or replaced weight file is refused with a clear message.

:meth:`RedshiftEstimator.pretrained` and :meth:`DLAFinder.pretrained` load them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["MODEL_DIR", "PRETRAINED_NAMES", "PretrainedModelError", "load_pretrained", "pretrained_card",
           "pretrained_paths"]

MODEL_DIR = Path(__file__).resolve().with_name("models")

#: estimator class name -> base name of its shipped files
PRETRAINED_NAMES = {"RedshiftEstimator": "redshift-4most-v1", "DLAFinder": "dla-4most-v1"}

#: fields every model card must hold (checked on load and by the tests)
CARD_FIELDS = ("model", "estimator", "date_utc", "command", "agnlab_version", "simulator", "training",
               "metrics", "weights_dtype", "prediction_tolerance")


class PretrainedModelError(FileNotFoundError):
    """A shipped model file is missing, corrupt or does not match its model card."""


def _name(cls_or_name) -> str:
    key = cls_or_name if isinstance(cls_or_name, str) else cls_or_name.__name__
    if key in PRETRAINED_NAMES.values():
        return key
    if key not in PRETRAINED_NAMES:
        raise ValueError(f"no shipped model for {key!r}; shipped: {sorted(PRETRAINED_NAMES)}")
    return PRETRAINED_NAMES[key]


def pretrained_paths(cls_or_name, *, model_dir=None) -> tuple[Path, Path]:
    """``(weights .npz, card .json)`` of a shipped model (``cls_or_name``: class, class name or file name)."""
    base = Path(model_dir) if model_dir is not None else MODEL_DIR
    name = _name(cls_or_name)
    return base / f"{name}.npz", base / f"{name}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pretrained_card(cls_or_name, *, model_dir=None) -> dict:
    """The model card of a shipped model (a dict; see the module docstring).

    Raises
    ------
    PretrainedModelError
        The card is missing, unreadable or lacks a required field.
    """
    _, card_path = pretrained_paths(cls_or_name, model_dir=model_dir)
    if not card_path.is_file():
        raise PretrainedModelError(
            f"the model card {card_path} is missing: this agnlab installation ships no default "
            f"{_name(cls_or_name)} model. Reinstall agnlab, or train one with "
            "'python scripts/train_spectra_models.py --out <folder>' (or 'agnlab spectra train') and load it "
            "with .load(path)")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PretrainedModelError(f"{card_path}: unreadable model card ({exc})") from None
    missing = [f for f in CARD_FIELDS + ("sha256", "file") if f not in card]
    if missing:
        raise PretrainedModelError(f"{card_path}: model card lacks {missing}")
    return card


def load_pretrained(cls, *, model_dir=None, **params):
    """Load the shipped model of estimator class ``cls``, check it against its card, set ``params``.

    Parameters
    ----------
    cls : RedshiftEstimator or DLAFinder (the class)
    model_dir : path, optional
        Folder holding the files (default: the package's ``models`` folder).
    **params
        Hyperparameters to set after loading (e.g. ``n_jobs``, ``progress``, ``threshold``).

    Raises
    ------
    PretrainedModelError
        Files missing, or the weights do not match the card (SHA-256).
    """
    from ..io import ArtifactError

    weights, _ = pretrained_paths(cls, model_dir=model_dir)
    card = pretrained_card(cls, model_dir=model_dir)
    if not weights.is_file():
        raise PretrainedModelError(f"{weights} is missing (its model card is present): the installation is "
                                   "incomplete; reinstall agnlab or retrain with scripts/train_spectra_models.py")
    if _sha256(weights) != card["sha256"]:
        raise PretrainedModelError(f"{weights} does not match its model card (SHA-256 differs): the file was "
                                   "replaced or truncated; reinstall agnlab or retrain")
    if card["estimator"] != cls.__name__:
        raise PretrainedModelError(f"{weights}: the card describes a {card['estimator']}, not a {cls.__name__}")
    try:
        est = cls.load(weights)
    except ArtifactError as exc:
        raise PretrainedModelError(str(exc)) from None
    if params:
        est.set_params(**params)
    est.model_card_ = card
    return est
