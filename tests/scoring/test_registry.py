"""The scoring registry is the one source of scoring functions: names, weights, radii, term
curves; the tables, the CLI and the config derive from it."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from hpcfold import config, scoring
from hpcfold.dock import tables
from hpcfold.types import TERMS


def test_registry_names_and_lookup():
    assert scoring.NAMES == ("vina", "vinardo") and scoring.DEFAULT in scoring.NAMES
    assert scoring.get("VINA") is scoring.SCORING["vina"]
    with pytest.raises(ValueError, match="choose one of vina, vinardo"):
        scoring.get("ad4")


@pytest.mark.parametrize("name", scoring.NAMES)
def test_term_slopes_are_the_derivatives_of_the_values(name):
    d = np.linspace(-3.0, 9.0, 4801)
    for term in scoring.get(name).terms:
        num = np.gradient(term.value(np, d), d)
        inner = np.ones_like(d, bool)
        inner[[0, -1]] = False  # np.gradient is one-sided there
        for kink in (-0.7, -0.6, 0.0, 0.5, 1.5, 2.5):  # ramps' corners
            inner &= np.abs(d - kink) > 0.01
        np.testing.assert_allclose(term.slope(np, d)[inner], num[inner], atol=2e-3)


@pytest.mark.parametrize("name", scoring.NAMES)
def test_tables_follow_the_registered_terms(name):
    sf = scoring.get(name)
    samples = tables.term_samples(name)
    used = {t.slot for t in sf.terms}
    for k, slot in enumerate(TERMS):  # unused slots stay 0 (Vinardo: gauss2)
        assert (np.abs(samples[k]).sum() > 0) == (slot in used)
    # a C_H / C_H pair at r = 4 A (k = 32 r^2 = 512): gauss1 of d = 4 - 2 R_C
    rad = sf.xs_radii()[0]
    g1 = next(t for t in sf.terms if t.slot == "gauss1")
    assert samples[0, 0, 0, 512] == pytest.approx(float(g1.value(np, 4.0 - 2 * rad)), rel=1e-12)
    assert tables.make_params(name).resolved_weights == sf.weights


def test_a_registered_function_reaches_the_cli_and_the_config(monkeypatch):
    """A new function is its module + its registration: the CLI choices and the config check
    follow the registry (a copy of Vina under another name stands in for a new module)."""
    extra = dataclasses.replace(scoring.get("vina"), name="vina2")
    monkeypatch.setitem(scoring.SCORING, "vina2", extra)
    monkeypatch.setattr(scoring, "NAMES", (*scoring.NAMES, "vina2"))
    from hpcfold.commands import dock, score

    for mod in (dock, score):
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        choices = next(a.choices for a in p._actions if a.dest == "scoring")
        assert "vina2" in choices
    assert tables.make_params("vina2").resolved_weights == extra.weights
    config.SearchOptions(scoring="vina2")  # the config's search section checks itself
    with pytest.raises(Exception, match="vina2"):
        config.SearchOptions(scoring="nope")
