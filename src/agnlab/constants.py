"""Physical constants and rest wavelengths used across agnlab (one home for each)."""

__all__ = ["C_KMS", "C_AA_S", "LYA_AA", "LYB_AA", "LYMAN_LIMIT_AA"]

#: speed of light [km/s]
C_KMS = 299792.458
#: speed of light [Angstrom/s]
C_AA_S = 2.99792458e18
#: H I Lyman-alpha rest wavelength (vacuum) [Angstrom]
LYA_AA = 1215.67
#: H I Lyman-beta rest wavelength (vacuum) [Angstrom]
LYB_AA = 1025.72
#: H I Lyman limit (ionisation edge, vacuum) [Angstrom]; Morton (2003)
LYMAN_LIMIT_AA = 911.753
