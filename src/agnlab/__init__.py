"""agnlab: machine learning for AGN and survey astronomy.

Workflows live in subpackages (``agnlab.emulate``, ``agnlab.population``,
``agnlab.nebular``, ``agnlab.spectra``, ...); shared pieces in ``agnlab.io``,
``agnlab.grids``, ``agnlab.photometry``, ``agnlab.nn`` and ``agnlab.report``.
"""

__version__ = "0.1.0"

from ._domain import OutOfDomainError
from ._progress import progress

__all__ = ["OutOfDomainError", "__version__", "progress"]
