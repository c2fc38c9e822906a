"""analysis.effects: each selector against its random twin, in random's own spread."""
from __future__ import annotations

import math

import pytest

from analysis import build_table, render, selection_effects


def test_selection_effects_in_random_std(paper_results):
    effects = selection_effects(build_table("1", paper_results)[0]).set_index(["n_paired", "selector"])
    assert list(effects.index) == [(1, "kmedoids"), (5, "kmedoids")]
    one = effects.loc[(1, "kmedoids")]          # .6 (.5 .6 .7) vs .4 (.2 ... .6, std .1581)
    assert (one["n"], one["n_random"]) == (3, 5)
    assert one["delta_mean"] == pytest.approx(.2)
    assert one["delta_in_random_std"] == pytest.approx(.2 / .158113883)
    assert one["delta_worst"] == pytest.approx(.3)
    five = effects.loc[(5, "kmedoids")]         # random's std is 0: no ratio
    assert five["delta_mean"] == pytest.approx(.1) and math.isnan(five["delta_in_random_std"])


def test_hybrid_single_pair_effect_and_markdown(paper_results):
    table = build_table("2", paper_results)[0]
    effects = selection_effects(table)
    assert len(effects) == 1 and effects.iloc[0]["delta_mean"] == pytest.approx(.15)
    text = render([table], "md")
    assert "| 200        | 1        | yes        | kmedoids    | 2 vs 2          | +0.150   |" in text
    assert selection_effects(build_table("5", paper_results)[0]).empty       # no random cell there
