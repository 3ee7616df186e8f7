"""The vectorised PyNeb forward model."""

from __future__ import annotations

import numpy as np
import pytest

pn = pytest.importorskip("pyneb")

from agnlab.nebular import (  # noqa: E402
    PRIMARY_DIAGNOSTICS,
    TEMDEN_BOUNDS,
    TeNeForward,
    diagnostic_ratio,
    forward_grid,
    get_diagnostic,
    supported_diagnostics,
    temden_forward,
)


def test_ratio_matches_pyneb_emissivities():
    o3 = pn.Atom("O", 3)
    te = np.array([8000.0, 12000.0, 18000.0])
    ne = np.array([1e2, 1e3, 1e5])
    want = o3.getEmissivity(te, ne, wave=4363, product=False) / o3.getEmissivity(te, ne, wave=5007, product=False)
    np.testing.assert_allclose(diagnostic_ratio("[OIII] 4363/5007", te, ne), want, rtol=1e-12, atol=0)
    want_plus = o3.getEmissivity(te, ne, wave=4363, product=False) / (
        o3.getEmissivity(te, ne, wave=5007, product=False) + o3.getEmissivity(te, ne, wave=4959, product=False))
    np.testing.assert_allclose(diagnostic_ratio("[OIII] 4363/5007+", te, ne), want_plus, rtol=1e-12, atol=0)


def test_ratio_matches_pyneb_gettemden_definition():
    """PyNeb's own inversion of our ratio returns the input temperature."""
    r = diagnostic_ratio("[NII] 5755/6584", 11000.0, 100.0)
    n2 = pn.Atom("N", 2)
    te = n2.getTemDen(float(r), den=100.0, to_eval="L(5755)/L(6584)")
    np.testing.assert_allclose(te, 11000.0, rtol=1e-3, atol=0)


def test_broadcast_and_shapes():
    r = diagnostic_ratio("[SII] 6731/6716", np.full((2, 3), 1e4), 1e3)
    assert r.shape == (2, 3)
    assert np.all(np.isfinite(r))


def test_primary_diagnostics_supported():
    names = supported_diagnostics()
    for name in PRIMARY_DIAGNOSTICS:
        assert name in names
    spec = get_diagnostic("[OIII] 4363/5007+")
    assert spec.atom == "O3"
    assert set(spec.lines) == {"O3_4363A", "O3_5007A", "O3_4959A"}


def test_unknown_and_unsupported_names():
    with pytest.raises(ValueError, match="unknown diagnostic"):
        get_diagnostic("[OIII] 4363/9999")
    with pytest.raises(ValueError, match="blends or recombination"):
        get_diagnostic("[OII] 3727+/7325+")
    with pytest.raises(TypeError):
        get_diagnostic(5007)


def test_invalid_te_ne():
    with pytest.raises(ValueError, match="finite and positive"):
        diagnostic_ratio("[SII] 6731/6716", [1e4, -1.0], [100.0, 100.0])


def test_missing_line_in_ratio_from_lines():
    spec = get_diagnostic("[SII] 6731/6716")
    with pytest.raises(KeyError, match="S2_6716A"):
        spec.ratio_from_lines({"S2_6731A": np.ones(3)})
    r = spec.ratio_from_lines({"S2_6731A": np.array([2.0]), "S2_6716A": np.array([4.0])})
    np.testing.assert_allclose(r, [0.5], rtol=0, atol=0)


def test_forward_grid_is_cached():
    u = np.linspace(3.8, 4.2, 5)
    v = np.linspace(1, 3, 4)
    g1 = forward_grid("[SII] 6731/6716", u, v)
    g2 = forward_grid("[SII] 6731/6716", u, v)
    assert g1 is g2
    assert g1.shape == (5, 4)
    assert not g1.flags.writeable
    np.testing.assert_allclose(g1[2, 1], diagnostic_ratio("[SII] 6731/6716", 10 ** u[2], 10 ** v[1]),
                               rtol=1e-12, atol=0)


def test_temden_forward_direct_and_table():
    """The public Te/Ne forward problem: PyNeb emissivity ratios (log10), direct or tabulated (cubic)."""
    theta = np.array([[9000.0, 2.0], [15000.0, 3.5]])
    o3, s2 = pn.Atom("O", 3), pn.Atom("S", 2)
    te, ne = theta[:, 0], 10 ** theta[:, 1]
    want = np.log10(np.stack([
        o3.getEmissivity(te, ne, wave=4363, product=False) / o3.getEmissivity(te, ne, wave=5007, product=False),
        s2.getEmissivity(te, ne, wave=6731, product=False) / s2.getEmissivity(te, ne, wave=6716, product=False)],
        axis=1))
    direct = temden_forward()
    assert isinstance(direct, TeNeForward) and direct.param_names == ["te_k", "log_ne_cm3"]
    np.testing.assert_allclose(direct(theta), want, rtol=1e-12, atol=0)
    assert (direct.n_calls, direct.n_rows) == (1, 2)
    table = temden_forward(table_shape=(41, 51))
    np.testing.assert_allclose(table(theta), want, rtol=0, atol=2e-3)   # dex, cubic table of 41 x 51 nodes
    assert np.isnan(table([[30000.0, 2.0]])).all()                      # outside TEMDEN_BOUNDS: NaN
    np.testing.assert_array_equal(TEMDEN_BOUNDS, [[5000.0, 25000.0], [0.0, 5.0]])
    with pytest.raises(ValueError, match="table_shape"):
        temden_forward(table_shape=(2, 3))
