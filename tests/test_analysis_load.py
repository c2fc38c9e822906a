"""analysis.load: real Parquet files in the results layout, schemas that differ between files,
typed columns, failed trials apart, hidden/foreign files skipped, one-line errors."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import AnalysisError, load_results, with_planned
from analysis.schema import (CONFIG_COLUMNS, DATASET_FACTS, INT_CONFIG_COLUMNS, LABEL_DISTANCE,
                             MAPS_DATASETS, NOT_RESULT_AFFECTING)
from analysis_rows import make_row, seg, write_row
from trainer.core.config import TrialConfig
from trainer.eval.facts import facts_json


def test_config_columns_follow_trialconfig():
    """analysis never imports trainer: it reads TrialConfig's columns from analysis/
    row_schema.json, the writer's schema exported; regenerate it after changing TrialConfig:
    python -m sweeps.store.schema > analysis/row_schema.json"""
    from sweeps.store.schema import export_json
    copy = (Path(__file__).resolve().parents[1] / "analysis" / "row_schema.json").read_text()
    assert copy == export_json(), "analysis/row_schema.json is stale (see docstring)"
    fields = dataclasses.fields(TrialConfig)
    assert CONFIG_COLUMNS == tuple(f.name for f in fields)
    assert INT_CONFIG_COLUMNS == tuple(f.name for f in fields if f.type == "int")
    assert set(TrialConfig().to_row()) - set(CONFIG_COLUMNS) == set()
    changed = {name for name in CONFIG_COLUMNS if name not in NOT_RESULT_AFFECTING}
    base = TrialConfig()
    for name in NOT_RESULT_AFFECTING:   # really left out of the key
        current = getattr(base, name)
        value = (not current if isinstance(current, bool) else 7 if isinstance(current, int)
                 else "elsewhere")
        assert base.replace(**{name: value}).key() == base.key()
    assert "seed" in changed


def test_dataset_facts_copy_equals_the_registry():
    """analysis reads the registry's dataset facts from analysis/dataset_facts.json, an exported
    copy; regenerate it after registering a dataset:
    python -m trainer.eval.facts > analysis/dataset_facts.json"""
    copy = (Path(__file__).resolve().parents[1] / "analysis" / "dataset_facts.json").read_text()
    assert copy == facts_json(), "analysis/dataset_facts.json is stale (see docstring)"
    assert DATASET_FACTS == json.loads(copy)   # what analysis.schema reads
    assert MAPS_DATASETS == {"pix2pix", "toy-maps"}
    assert LABEL_DISTANCE == {"gta5": "far", "toy-synthlabels-far": "far", "synscapes": "close",
                              "toy-synthlabels-close": "close", "same": "same"}


def test_schemas_differ_between_files(tmp_path):
    """A column only some files have survives (null elsewhere); ints stay ints; a failed row's
    all-null metrics unify with the floats of ok rows."""
    rows = [make_row(seg(.5, iou_person=.25, pixel_acc_archmean=.4), mode="paired", unpaired=-1,
                     paired_budget=1, seed=0),
            make_row(seg(.7), mode="paired", unpaired=-1, paired_budget=5, seed=1,
                     extra={"steps_done": 10.0}),    # a float where the others wrote an int
            make_row(None, status="failed", error="boom", mode="paired", unpaired=-1,
                     paired_budget=5, seed=2)]
    for row in rows:
        write_row(tmp_path, row)
    res = load_results(tmp_path)
    assert len(res.ok) == 2 and len(res.failed) == 1
    ok = res.ok.set_index("seed")
    assert ok.loc[0, "iou_person"] == .25 and math.isnan(ok.loc[1, "iou_person"])
    assert ok.loc[0, "pixel_acc_archmean"] == .4 and math.isnan(ok.loc[1, "pixel_acc_archmean"])
    assert pd.api.types.is_integer_dtype(res.ok["paired_budget"])
    assert sorted(res.ok["paired_budget"]) == [1, 5]
    assert pd.api.types.is_string_dtype(res.ok["dataset"])          # a string, not a category
    assert not isinstance(res.ok["dataset"].dtype, pd.CategoricalDtype)
    assert set(res.ok["dataset"]) == {"toy-streets"}
    assert res.failed.loc[0, "error"] == "boom" and math.isnan(res.failed.loc[0, "pixel_acc"])
    assert res.failed.loc[0, "protocol"] == "segmentation"   # inferred: failed rows have none
    assert set(res.ok["grid"]) == {"g"} and res.grids == ("g",)


def test_rows_written_by_the_sweeps_writer(tmp_path):
    """The real writer (sweeps.store.results) and this reader agree on the layout and columns."""
    results = pytest.importorskip("sweeps.store.results")
    cfg = TrialConfig(mode="paired", unpaired=-1, paired_budget=1, selection="random", seed=4)
    when = pd.Timestamp("2025-01-01", tz="UTC").to_pydatetime()
    row = results.make_row(cfg, "science", "ok", result={**seg(.61), "protocol": "segmentation"},
                           code_version="test", started_at=when, finished_at=when)
    results.write_row(results.row_path(str(tmp_path), "science", cfg), row)
    res = load_results(tmp_path, grid="science")
    assert res.ok.loc[0, "trial_key"] == cfg.key() and res.ok.loc[0, "pixel_acc"] == .61
    assert res.ok.loc[0, "seed"] == 4


def test_hidden_and_foreign_files_are_skipped(tmp_path):
    path = write_row(tmp_path, make_row(seg(.5), seed=0))
    (path.parent / f".{path.name}.1234.tmp").write_bytes(b"PAR1 half-written")
    (tmp_path / "g" / "_ray").mkdir()
    (tmp_path / "g" / "_ray" / "x.parquet").write_bytes(b"not a row")
    (tmp_path / "g" / "trial_0001").mkdir()                       # Tune's own folders
    pq.write_table(pa.table({"loss": [1.0]}), tmp_path / "g" / "trial_0001" / "r.parquet")
    res = load_results(tmp_path)
    assert len(res.ok) == 1 and res.failed.empty


def test_failed_row_superseded_by_ok_rerun(tmp_path):
    """The same trial failed in one grid and finished in another: it is not reported failed."""
    config = dict(mode="paired", unpaired=-1, paired_budget=1, seed=0)
    write_row(tmp_path, make_row(None, grid="a", status="failed", error="x", **config))
    write_row(tmp_path, make_row(seg(.5), grid="b", minute=5, **config))
    write_row(tmp_path, make_row(seg(.6), grid="c", minute=9, **config))   # latest wins
    res = load_results(tmp_path)
    assert res.failed.empty and list(res.ok["pixel_acc"]) == [.6]


def test_grid_filter_grid_folder_and_uri(tmp_path):
    write_row(tmp_path, make_row(seg(.5), grid="a", seed=0))
    write_row(tmp_path, make_row(seg(.6), grid="b", seed=1))
    assert list(load_results(tmp_path, grid="b").ok["pixel_acc"]) == [.6]
    assert list(load_results(tmp_path / "a").ok["grid"]) == ["a"]       # a grid's own folder
    assert sorted(load_results(f"file://{tmp_path}").ok["grid"]) == ["a", "b"]


def test_archetype_average_from_per_archetype_columns(tmp_path):
    """`<m>_archmean` is the plain mean over archetypes, filled in where a row lacks it."""
    arch = {"pixel_acc__day": .9, "pixel_acc__night": .3, "pixel_acc__fog": .6,
            "mean_iou__day": .5, "mean_iou__night": .1}
    write_row(tmp_path, make_row(seg(.8, **arch), seed=0))
    write_row(tmp_path, make_row(seg(.8, pixel_acc_archmean=.55, **arch), seed=1))
    ok = load_results(tmp_path).ok.set_index("seed")
    assert ok.loc[0, "pixel_acc_archmean"] == pytest.approx(.6)
    assert ok.loc[0, "mean_iou_archmean"] == pytest.approx(.3)
    assert ok.loc[1, "pixel_acc_archmean"] == pytest.approx(.55)    # the trainer's own value


def test_planned_trials_without_rows_are_listed(tmp_path):
    write_row(tmp_path, make_row(seg(.5), seed=0))
    planned = [dict(TrialConfig(seed=s).to_row(), trial_key=TrialConfig(seed=s).key())
               for s in (0, 1)]
    res = with_planned(load_results(tmp_path), planned)
    assert list(res.failed["seed"]) == [1] and list(res.failed["status"]) == ["not run"]


@pytest.mark.parametrize("case, message", [
    ("missing", "no such results folder"),
    ("empty", "no result rows"),
    ("corrupt", "not a readable Parquet file"),
    ("no_status", "no column 'status'"),
    ("clash", "column types clash"),
    ("grid", "no grid 'zzz' (grids found: g)"),
])
def test_bad_input_is_one_line_naming_it(tmp_path, case, message):
    grid = "zzz" if case == "grid" else None
    target = tmp_path / "nowhere" if case == "missing" else tmp_path
    good = write_row(tmp_path, make_row(seg(.5), seed=0)) if case in ("corrupt", "clash", "grid") \
        else None
    bad = tmp_path / "g" / "dataset=toy-streets" / "bad.parquet"
    if case == "corrupt":
        bad.write_bytes(b"garbage")
    elif case == "no_status":
        bad.parent.mkdir(parents=True)
        pq.write_table(pa.table({"trial_key": ["k"], "seed": [0]}), bad)
    elif case == "clash":
        row = make_row(seg(.5), seed=1)
        row["pixel_acc"] = "high"
        pq.write_table(pa.Table.from_pylist([row]), bad)
    with pytest.raises(AnalysisError) as err:
        load_results(target, grid=grid)
    text = str(err.value)
    assert message in text and "\n" not in text
    if case in ("corrupt", "no_status"):
        assert "bad.parquet" in text
    assert good is None or good.exists()
