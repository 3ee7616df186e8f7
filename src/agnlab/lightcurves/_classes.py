"""The class taxonomy (ALeRCE light-curve classifier, Sánchez-Sáez et al. 2021, AJ 161, 141) and band data."""

from __future__ import annotations

__all__ = ["BAND_WAVE_UM", "CLASSES", "HIERARCHY", "SURVEY_BANDS", "class_group"]

#: top-level group -> classes, in the order ALeRCE reports them
HIERARCHY: dict[str, tuple[str, ...]] = {
    "Stochastic": ("AGN", "QSO", "Blazar", "YSO", "CV/Nova"),
    "Periodic": ("LPV", "E", "RRL", "CEP", "DSCT", "Periodic-Other"),
    "Transient": ("SNIa", "SNII", "SNIbc", "SLSN"),
}

#: the 15 classes
CLASSES: tuple[str, ...] = tuple(c for group in HIERARCHY.values() for c in group)

#: bands of each simulated survey
SURVEY_BANDS: dict[str, tuple[str, ...]] = {"ztf": ("g", "r"), "lsst": ("u", "g", "r", "i", "z", "y")}

#: effective wavelengths (um) used for colours and wavelength-dependent variability
BAND_WAVE_UM: dict[str, float] = {"u": 0.367, "g": 0.482, "r": 0.625, "i": 0.755, "z": 0.869, "y": 0.971}


def class_group(cls: str, hierarchy: dict | None = None) -> str:
    """Top-level group of class ``cls`` (``KeyError`` naming it when unknown)."""
    for group, members in (hierarchy or HIERARCHY).items():
        if cls in members:
            return group
    raise KeyError(f"unknown class {cls!r}; known: {list(CLASSES)}")
