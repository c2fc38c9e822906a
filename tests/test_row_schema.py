"""One schema for every results row (sweeps.store.schema), written by one writer
(sweeps.store.rows): rows of every kind -- ok with and without pairs, failed, stopped, a pack
member, a study trial stopped by its scheduler -- have the same columns and types, so stock
readers read a grid's folder in every file order (they take its schema from the first file)."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import load_results
from stock_readers import every_order, stock_reads
from sweeps.store import results
from sweeps.store.rows import RowSink, computed_with
from sweeps.store.schema import ROW_SCHEMA, SchemaError, schema_for
from trainer.core.config import TrialConfig

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
UNPAIRED = TrialConfig(mode="unpaired", paired_budget=0, seed=0)
HYBRID, FAILED, STOPPED = (TrialConfig(seed=s) for s in (1, 2, 3))
ARCHETYPES = {"pixel_acc__downtown": .6, "pixel_acc__night": .2, "pixel_acc_archmean": .4}


def _result(paired: list[int], acc: float, **more) -> dict:
    """A trial's result columns, as TrialResult.to_row() gives them."""
    return {"pixel_acc": acc, "mean_class_acc": acc / 2, "mean_iou": acc / 4,
            "iou_road": acc, "protocol": "segmentation", "train_s": 1.5, "steps_done": 4,
            "steps_per_s": 2.5, "eval_s": .1, "device": "cpu", "paired_indices": paired,
            "unpaired_indices": [1, 3, 7, 9], "samples_png": None, **more}


def _raised(err: BaseException) -> BaseException:
    try:
        raise err
    except BaseException as caught:   # with a traceback, as a trial's error has
        return caught


def write_mixed_grid(root: str) -> RowSink:
    """The rows README's demo grid mixes: unpaired-only (no pairs: an empty list), hybrid (a
    pack member, with a learning curve), failed, stopped -- through the real writer."""
    sink = RowSink(root, "g", "git:test", computed_with())
    sink.write(UNPAIRED, "ok", T0, result=_result([], .5, **ARCHETYPES))
    sink.with_computed(pack_id="pack-0123456789ab", pack_size=2).write(
        HYBRID, "ok", T0, result=_result([3, 7], .7, curve_step=[2, 4],
                                         curve_holdout_score=[.3, .4],
                                         curve_val_pixel_acc=[.5, .7]))
    assert sink.write_failure(FAILED, _raised(ValueError("bad input")), T0) == "failed"
    assert sink.write_failure(STOPPED, _raised(KeyboardInterrupt()), T0) == "stopped"
    return sink


def test_a_grid_of_every_kind_of_row_reads_with_stock_readers_in_every_file_order(tmp_path):
    write_mixed_grid(str(tmp_path / "res"))
    n = 0
    for grid in every_order(tmp_path / "res" / "g", tmp_path / "orders"):
        frame, table = stock_reads(grid)
        for rows in (frame, table):
            assert rows.loc[UNPAIRED.key(), "status"] == "ok"
            assert list(rows.loc[UNPAIRED.key(), "paired_indices"]) == []
            assert list(rows.loc[HYBRID.key(), "paired_indices"]) == [3, 7]
            assert list(rows.loc[HYBRID.key(), "curve_step"]) == [2, 4]
            assert rows.loc[UNPAIRED.key(), "curve_step"] is None
            assert rows.loc[HYBRID.key(), "pack_id"] == "pack-0123456789ab"
            assert rows.loc[FAILED.key(), "error"].startswith("ValueError: bad input (")
            assert rows.loc[STOPPED.key(), "status"] == "stopped"
            assert rows.loc[STOPPED.key(), "error"].startswith("KeyboardInterrupt (")
            assert rows.loc[HYBRID.key(), "pixel_acc"] == .7
            assert list(rows["dataset"].astype(str)) == ["toy-streets"] * 4
            if "pixel_acc__downtown" in rows:   # a per-archetype column: in the first file?
                assert rows.loc[UNPAIRED.key(), "pixel_acc__downtown"] == .6
        n += 1
    assert n == 24


def test_every_row_has_the_one_schema_and_old_rows_still_load(tmp_path):
    """The rows' schemas are equal (per-archetype doubles aside), so no order can fail; a row
    written before the schema (`list<null>` indices, null-typed error) loads beside them."""
    root = str(tmp_path / "res")
    sink = write_mixed_grid(root)
    study = TrialConfig(seed=4)
    sink.write(study, "stopped", T0, error="stopped early at step 2 (val_score 0.3): ...",
               result={"val_score": .3, "steps_done": 2})
    schemas = {p.name: pq.read_schema(p).remove_metadata()
               for p in (tmp_path / "res" / "g" / "dataset=toy-streets").iterdir()}
    plain = ROW_SCHEMA.remove(ROW_SCHEMA.get_field_index("dataset"))
    with_archetypes = schema_for(ARCHETYPES)
    with_archetypes = with_archetypes.remove(with_archetypes.get_field_index("dataset"))
    for name, schema in schemas.items():
        expected = with_archetypes if name.startswith(UNPAIRED.key()) else plain
        assert schema.equals(expected), name
    assert plain.field("paired_indices").type == pa.list_(pa.int64())
    assert plain.field("started_at").type == pa.timestamp("us", tz="UTC")

    old = TrialConfig(seed=5)
    row = {**old.to_row(), "trial_key": old.key(), "grid": "g", "status": "ok", "error": None,
           **_result([], .9), "code_version": "old", "started_at": T0, "finished_at": T0}
    del row["dataset"]
    table = pa.Table.from_pylist([row])   # how rows were written before: types from values
    assert table.schema.field("paired_indices").type == pa.list_(pa.null())
    pq.write_table(table, tmp_path / "res" / "g" / "dataset=toy-streets" / f"{old.key()}.parquet")
    loaded = load_results(root)
    ok = loaded.ok.set_index("trial_key")
    assert sorted(ok.index) == sorted([UNPAIRED.key(), HYBRID.key(), old.key()])
    assert list(ok.loc[old.key(), "paired_indices"]) == []
    assert list(ok.loc[HYBRID.key(), "paired_indices"]) == [3, 7]
    assert ok.loc[old.key(), "pixel_acc"] == .9
    assert set(loaded.failed["status"]) == {"failed", "stopped"}
    assert ok.loc[UNPAIRED.key(), "pixel_acc__downtown"] == .6


def test_an_undeclared_column_is_refused_before_anything_is_written(tmp_path):
    path = results.row_path(str(tmp_path), "g", HYBRID)
    row = results.make_row(HYBRID, "g", "ok", result={"pixel_acc": .5, "pixel_accuracy": .5},
                           code_version="t", started_at=T0, finished_at=T0)
    with pytest.raises(SchemaError, match="results column 'pixel_accuracy' is not declared"):
        results.write_row(path, row)
    assert not (tmp_path / "g").exists()
    row["steps_done"] = "four"   # a declared column of the wrong type
    row.pop("pixel_accuracy")
    with pytest.raises(SchemaError, match="does not fit its schema"):
        results.write_row(path, row)
    assert not (tmp_path / "g").exists()
