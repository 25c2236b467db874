"""Lookup tables: Vina's sampling rules, term shapes, weights and parameters."""

from __future__ import annotations

import numpy as np
import pytest

from hpcfold.dock import tables
from hpcfold.types import XS_INDEX


def test_sampling_rule_and_cutoff():
    tb = tables.build_tables(tables.make_params("vina"))
    assert tables.N_SAMPLES == 2051
    smooth = np.asarray(tb.smooth, np.float64)
    fast = np.asarray(tb.fast, np.float64)
    np.testing.assert_allclose(fast[..., :-1], (smooth[..., :-1] + smooth[..., 1:]) / 2, atol=1e-6)
    k8 = int(32 * 64)  # r = 8 A: every term is zero from the cutoff on
    assert np.all(smooth[..., k8:] == 0)
    np.testing.assert_array_equal(smooth, smooth.transpose(1, 0, 2))


def test_vina_terms_match_formulas():
    terms = tables.term_samples("vina")
    c, o = XS_INDEX["C_H"], XS_INDEX["O_A"]
    k = 300
    r = np.sqrt(k / 32)
    d = r - (1.9 + 1.9)
    assert terms[0, c, c, k] == pytest.approx(np.exp(-((d / 0.5) ** 2)))
    assert terms[1, c, c, k] == pytest.approx(np.exp(-(((d - 3) / 2) ** 2)))
    assert terms[2, c, c, k] == pytest.approx(d * d if d < 0 else 0.0)
    assert terms[3, c, c, k] == pytest.approx(np.clip((d - 1.5) / (0.5 - 1.5), 0, 1))
    assert terms[4, c, c, k] == 0  # no donor/acceptor pair
    nd = XS_INDEX["N_D"]
    d2 = r - (1.8 + 1.7)
    assert terms[4, nd, o, k] == pytest.approx(np.clip(d2 / -0.7, 0, 1))
    assert terms[3, c, o, k] == 0  # O is not hydrophobic


def test_vinardo_radii_and_no_gauss2():
    terms = tables.term_samples("vinardo")
    assert np.all(terms[1] == 0)
    r = tables.xs_radii("vinardo")
    assert r[XS_INDEX["C_H"]] == 2.0 and r[XS_INDEX["N_A"]] == 1.7 and r[XS_INDEX["O_A"]] == 1.6
    assert r[XS_INDEX["S_P"]] == 2.0


def test_weights_and_params():
    p = tables.make_params("vina", {"gauss1": -0.1, "rot": 0.0})
    w = p.resolved_weights
    assert w[0] == -0.1 and w[5] == 0.0 and w[2] == 0.840245
    assert tables.make_params("vina").cache_key() != p.cache_key()
    with pytest.raises(ValueError, match="unknown weight"):
        tables.make_params("vina", {"gauss3": 1.0})
    with pytest.raises(ValueError, match="unknown scoring"):
        tables.make_params("ad4")
    tb = tables.build_tables(tables.make_params("vina", {"repulsion": 0.0}))
    assert float(np.asarray(tb.terms)[2].max()) > 0  # unweighted terms are kept
    assert np.asarray(tb.dor)[..., 0].max() == 0 and np.asarray(tb.dor)[..., -1].max() == 0
