"""Vectorised PyNeb forward model for temperature / density diagnostics.

A diagnostic is identified by its PyNeb name (a key of ``pyneb.diags_dict``,
e.g. ``"[OIII] 4363/5007"``).  Its line ratio is *exactly* the expression that
PyNeb attaches to that name, so that ratios computed here are the same numbers
that :meth:`pyneb.Diagnostics.getCrossTemDen` inverts:

====================  ======  ===============================
name                  atom    ratio
====================  ======  ===============================
[OIII] 4363/5007      O3      L(4363)/L(5007)
[OIII] 4363/5007+     O3      L(4363)/(L(5007)+L(4959))
[SII] 6731/6716       S2      L(6731)/L(6716)
[NII] 5755/6584       N2      L(5755)/L(6584)
[NII] 5755/6584+      N2      L(5755)/(L(6548)+L(6584))
[OII] 3726/3729       O2      L(3726)/L(3729)
[ArIV] 4740/4711      Ar4     L(4740)/L(4711)
[ClIII] 5538/5518     Cl3     L(5538)/L(5518)
====================  ======  ===============================

``L(wave)`` is the emissivity of the line of that wavelength (Angstrom) of the
atom and ``I(i, j)`` the emissivity of the transition between levels i and j.
Note the difference between ``[OIII] 4363/5007`` (5007 alone) and
``[OIII] 4363/5007+`` (4959 + 5007): pass the name that matches what you
measured.  Diagnostics whose expression needs blends (``B(...)``) or
recombination lines (``S(...)``) are not supported.

PyNeb is imported lazily: it is needed to *compute* forward grids (training),
never to evaluate a trained estimator.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DiagnosticSpec",
    "get_diagnostic",
    "supported_diagnostics",
    "diagnostic_ratio",
    "line_emissivities",
    "forward_grid",
]

# The diagnostics named in the project brief; every other PyNeb diagnostic whose
# expression only uses L(...) / I(i, j) of one collisionally excited ion works too.
PRIMARY_DIAGNOSTICS = (
    "[OIII] 4363/5007",
    "[OIII] 4363/5007+",
    "[NII] 5755/6584",
    "[NII] 5755/6584+",
    "[SII] 6731/6716",
    "[OII] 3726/3729",
    "[ArIV] 4740/4711",
    "[ClIII] 5538/5518",
)


def _pyneb():
    try:
        import pyneb as pn
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError(
            "PyNeb is required to build forward grids (training a TeNeEstimator). "
            "Install it with `pip install pyneb`; a trained estimator loaded from an "
            "artifact does not need it."
        ) from exc
    return pn


# --------------------------------------------------------------------------------------
# Safe parsing of PyNeb diagnostic expressions (no eval)
# --------------------------------------------------------------------------------------


class _Expr:
    """A parsed ratio expression built from line terms, numbers and + - * /."""

    def __init__(self, node, terms):
        self._node = node
        self.terms = terms  # ordered tuple of term keys: ("L", wave) or ("I", i, j)

    def __call__(self, values):
        """Evaluate with ``values`` mapping each term key to an array."""
        return self._eval(self._node, values)

    def _eval(self, node, values):
        if isinstance(node, ast.Expression):
            return self._eval(node.body, values)
        if isinstance(node, ast.BinOp):
            a = self._eval(node.left, values)
            b = self._eval(node.right, values)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            return a / b
        if isinstance(node, ast.UnaryOp):
            return -self._eval(node.operand, values)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Call):
            return values[_term_key(node)]
        raise ValueError(f"unsupported expression node {ast.dump(node)}")  # pragma: no cover


def _term_key(call):
    name = call.func.id
    args = tuple(a.value for a in call.args)
    return (name,) + args


def _parse_expression(expr, diag_name):
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse the PyNeb expression {expr!r} of {diag_name!r}") from exc
    terms = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
                             ast.USub, ast.Load)):
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            continue
        if isinstance(node, ast.Name) and node.id in ("L", "I"):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            ok = (
                (node.func.id == "L" and len(node.args) == 1)
                or (node.func.id == "I" and len(node.args) == 2)
            ) and all(isinstance(a, ast.Constant) and isinstance(a.value, (int, float))
                      for a in node.args) and not node.keywords
            if ok:
                key = _term_key(node)
                if key not in terms:
                    terms.append(key)
                continue
        raise ValueError(
            f"diagnostic {diag_name!r} uses the PyNeb expression {expr!r}, which needs blends "
            "or recombination lines; only ratios of L(wave) / I(i, j) emissivities of one "
            "collisionally excited ion are supported"
        )
    return _Expr(tree, tuple(terms))


@dataclass(frozen=True)
class DiagnosticSpec:
    """A PyNeb diagnostic as used here.

    Attributes
    ----------
    name : str
        PyNeb name, e.g. ``"[SII] 6731/6716"``.
    atom : str
        PyNeb atom label, e.g. ``"S2"``.
    elem, spec : str, int
        Element symbol and ionisation stage (``"S"``, ``2``).
    expression : str
        PyNeb's ratio expression, e.g. ``"L(6731)/L(6716)"``.
    lines : tuple of str
        Labels of the lines entering the ratio, PyNeb style (``"S2_6731A"``).
    """

    name: str
    atom: str
    elem: str
    spec: int
    expression: str
    lines: tuple

    @property
    def _expr(self):
        return _parse_expression(self.expression, self.name)

    def ratio_from_lines(self, fluxes):
        """Evaluate the ratio from line intensities.

        Parameters
        ----------
        fluxes : mapping
            Line label (see :attr:`lines`) -> array of intensities (any common shape).

        Returns
        -------
        numpy.ndarray
            The diagnostic ratio, same shape as the inputs.
        """
        expr = self._expr
        values = {}
        for key, label in zip(expr.terms, self.lines):
            if label not in fluxes:
                raise KeyError(f"line {label!r} needed by {self.name!r} is missing; "
                               f"required lines: {list(self.lines)}")
            values[key] = np.asarray(fluxes[label], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(expr(values), dtype=float)


def _line_label(atom, key):
    if key[0] == "L":
        wave = key[1]
        wave_txt = f"{wave:g}" if wave < 1e5 else f"{wave / 1e4:g}m"
        return f"{atom}_{wave_txt}A" if wave < 1e5 else f"{atom}_{wave_txt}"
    return f"{atom}_I{key[1]}-{key[2]}"


@functools.lru_cache(maxsize=None)
def get_diagnostic(name):
    """Look up a PyNeb diagnostic by name.

    Parameters
    ----------
    name : str
        A key of ``pyneb.diags_dict`` (e.g. ``"[OIII] 4363/5007"``).

    Returns
    -------
    DiagnosticSpec

    Raises
    ------
    ValueError
        Unknown name (the message lists the supported ones) or an expression that
        needs blends/recombination lines.
    """
    if not isinstance(name, str):
        raise TypeError(f"diagnostic name must be a str, got {type(name).__name__}")
    pn = _pyneb()
    diags = pn.diags_dict
    if name not in diags:
        close = [k for k in diags if k.replace(" ", "").lower()[:6] == name.replace(" ", "").lower()[:6]]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"unknown diagnostic {name!r}.{hint} Commonly used: {list(PRIMARY_DIAGNOSTICS)}; "
            "see agnlab.nebular.supported_diagnostics() for all."
        )
    atom, expression = diags[name][0], diags[name][1]
    if atom.endswith("r"):
        raise ValueError(f"diagnostic {name!r} uses recombination lines ({atom}); not supported")
    expr = _parse_expression(expression, name)
    elem = "".join(c for c in atom if c.isalpha())
    spec = int("".join(c for c in atom if c.isdigit()))
    lines = tuple(_line_label(atom, k) for k in expr.terms)
    return DiagnosticSpec(name=name, atom=atom, elem=elem, spec=spec,
                          expression=expression, lines=lines)


def supported_diagnostics():
    """Names of all PyNeb diagnostics this module can compute.

    Returns
    -------
    list of str
    """
    pn = _pyneb()
    out = []
    for name in pn.diags_dict:
        try:
            get_diagnostic(name)
        except ValueError:
            continue
        out.append(name)
    return out


@functools.lru_cache(maxsize=None)
def _atom(elem, spec):
    pn = _pyneb()
    return pn.Atom(elem, spec)


def line_emissivities(spec, te_k, ne_cm3):
    """Emissivities of the lines of a diagnostic at paired (Te, Ne).

    Parameters
    ----------
    spec : DiagnosticSpec or str
    te_k, ne_cm3 : array_like, shape (n,)
        Paired electron temperatures (K) and densities (cm^-3).

    Returns
    -------
    dict
        Line label -> emissivity array, shape (n,).
    """
    if isinstance(spec, str):
        spec = get_diagnostic(spec)
    te = np.atleast_1d(np.asarray(te_k, dtype=float)).ravel()
    ne = np.atleast_1d(np.asarray(ne_cm3, dtype=float)).ravel()
    if te.shape != ne.shape:
        raise ValueError(f"te_k and ne_cm3 must pair up, got shapes {te.shape} and {ne.shape}")
    atom = _atom(spec.elem, spec.spec)
    out = {}
    for key, label in zip(spec._expr.terms, spec.lines):
        if key[0] == "L":
            em = atom.getEmissivity(te, ne, wave=key[1], product=False)
        else:
            em = atom.getEmissivity(te, ne, lev_i=int(key[1]), lev_j=int(key[2]), product=False)
        out[label] = np.asarray(em, dtype=float).reshape(te.shape)
    return out


def diagnostic_ratio(diag, te_k, ne_cm3):
    """The diagnostic line ratio at paired (Te, Ne), computed with PyNeb.

    Parameters
    ----------
    diag : str
        PyNeb diagnostic name.
    te_k, ne_cm3 : array_like
        Paired temperatures (K) and densities (cm^-3); broadcast together.

    Returns
    -------
    numpy.ndarray
        Ratio with the broadcast shape of the inputs.

    Examples
    --------
    >>> from agnlab.nebular import diagnostic_ratio
    >>> r = diagnostic_ratio("[SII] 6731/6716", [1e4, 1e4], [1e2, 1e4])
    >>> bool(r[1] > r[0])
    True
    """
    spec = get_diagnostic(diag)
    te, ne = np.broadcast_arrays(np.asarray(te_k, dtype=float), np.asarray(ne_cm3, dtype=float))
    if np.any(~np.isfinite(te)) or np.any(te <= 0) or np.any(~np.isfinite(ne)) or np.any(ne <= 0):
        raise ValueError("te_k and ne_cm3 must be finite and positive")
    em = line_emissivities(spec, te.ravel(), ne.ravel())
    return spec.ratio_from_lines(em).reshape(te.shape)


@functools.lru_cache(maxsize=16)
def _forward_grid_cached(diag, log_te, log_ne):
    u = np.asarray(log_te)
    v = np.asarray(log_ne)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    r = diagnostic_ratio(diag, 10.0 ** uu.ravel(), 10.0 ** vv.ravel()).reshape(uu.shape)
    r.setflags(write=False)
    return r


def forward_grid(diag, log_te, log_ne):
    """Diagnostic ratio on the outer product of log Te and log Ne nodes (cached).

    PyNeb is called once per (diagnostic, grid) in a process; later calls with
    the same nodes return the cached, read-only array.

    Parameters
    ----------
    diag : str
        PyNeb diagnostic name.
    log_te : array_like, shape (n_te,)
        log10 Te nodes (K).
    log_ne : array_like, shape (n_ne,)
        log10 Ne nodes (cm^-3).

    Returns
    -------
    numpy.ndarray, shape (n_te, n_ne)
        Ratios (read-only).
    """
    key_u = tuple(float(x) for x in np.asarray(log_te, dtype=float).ravel())
    key_v = tuple(float(x) for x in np.asarray(log_ne, dtype=float).ravel())
    return _forward_grid_cached(diag, key_u, key_v)
