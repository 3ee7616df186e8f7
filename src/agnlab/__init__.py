"""agnlab: machine learning for AGN and survey astronomy.

Workflows live in subpackages (``agnlab.emulate``, ``agnlab.population``,
``agnlab.nebular``, ``agnlab.spectra``, ...); shared pieces in ``agnlab.io``,
``agnlab.grids``, ``agnlab.photometry``, ``agnlab.nn`` and ``agnlab.report``.
The estimator contract every learning class follows is
:class:`agnlab.AgnlabEstimator` (see ``docs/adding-a-workflow.md``).
"""

__version__ = "0.1.0"

from ._domain import OutOfDomainError
from ._lazy import lazy_exports
from ._progress import progress

__all__ = ["AgnlabEstimator", "OutOfDomainError", "__version__", "compute_context", "progress"]

__getattr__, __dir__ = lazy_exports(__name__, {"AgnlabEstimator": "._estimator",
                                               "compute_context": "._estimator"})
