"""Sky catalogues: AllWISE readers and checks, WISE AGN selection, sky masks, crossmatch, mock data.

A shared module: workflows (e.g. ``agnlab.population``) use its public names.
"""

from ._columns import ALLWISE_COLUMNS, WISE_BANDS, clean_photometry, read_catalog, validate_positions
from ._hats import crossmatch_hats, have_lsdb, write_hats
from ._hats_pipeline import select_wise_agn_hats
from ._mock import MockCatalog, agn_sed, make_mock_catalog
from ._selection import ASSEF_PRESETS, Selection, assef_cut, select_wise_agn
from ._sky import crossmatch, crossmatch_astropy, exclusion_mask, galactic_coordinates, unit_vectors
from ._spec import filter_spectra

__all__ = [
    "ALLWISE_COLUMNS",
    "ASSEF_PRESETS",
    "MockCatalog",
    "agn_sed",
    "Selection",
    "WISE_BANDS",
    "assef_cut",
    "clean_photometry",
    "crossmatch",
    "crossmatch_astropy",
    "crossmatch_hats",
    "select_wise_agn_hats",
    "exclusion_mask",
    "filter_spectra",
    "galactic_coordinates",
    "have_lsdb",
    "make_mock_catalog",
    "read_catalog",
    "select_wise_agn",
    "unit_vectors",
    "validate_positions",
    "write_hats",
]
