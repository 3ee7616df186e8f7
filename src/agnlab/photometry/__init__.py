"""Synthetic photometry: speclite filter curves, magnitudes, colours, redshifting.

Stable API (used by the ``emulate`` and ``population`` workflows):

- :func:`synthetic_mags` ``(wave_um, fnu, *, bands=("W1","W2","W3","W4"), system="vega", z=0.0)``
  -> (n_sed, n_bands) magnitudes, through a cached response matrix (1e5 SEDs in ~0.1 s).
- :func:`synthetic_colors` ``(wave_um, fnu, *, colors=(("W1","W2"),("W2","W3")), ...)``.
- :func:`redshift_sed`, :func:`response_matrix`, :func:`accretion_disk_fnu`, :func:`hot_dust_fnu`,
  :func:`available_bands`, :data:`VEGA_AB_OFFSETS`, :data:`BAND_ALIASES`.
"""

from ._disk import accretion_disk_fnu
from ._filters import BAND_ALIASES, VEGA_AB_OFFSETS, available_bands, resolve_band, response_matrix
from ._hot_dust import hot_dust_fnu
from ._mags import redshift_sed, synthetic_colors, synthetic_mags

__all__ = [
    "BAND_ALIASES",
    "VEGA_AB_OFFSETS",
    "accretion_disk_fnu",
    "available_bands",
    "hot_dust_fnu",
    "redshift_sed",
    "resolve_band",
    "response_matrix",
    "synthetic_colors",
    "synthetic_mags",
]
