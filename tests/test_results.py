"""sweeps.store.results: one atomic Parquet row per trial, read back with unified schemas."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sweeps.store import results
from trainer.core.config import TrialConfig

T0 = results.utc_now()
CODE = "git:test"


def _ok_row(cfg: TrialConfig, grid: str = "g", acc: float = 0.5) -> dict:
    result = {"pixel_acc": acc, "mean_iou": acc / 2, "protocol": "segmentation",
              "train_s": 1.5, "steps_done": 4, "device": "cpu",
              "paired_indices": [3, 7], "unpaired_indices": [1, 3, 7, 9]}
    return results.make_row(cfg, grid, "ok", result=result, code_version=CODE,
                            started_at=T0, finished_at=results.utc_now())


def _failed_row(cfg: TrialConfig, grid: str = "g") -> dict:
    return results.make_row(cfg, grid, "failed", error="RuntimeError: loss is nan at step 3",
                            code_version=CODE, started_at=T0, finished_at=results.utc_now())


def test_row_lands_at_the_contract_path_with_its_values(tmp_path):
    cfg = TrialConfig(dataset="toy-streets", seed=3)
    path = results.row_path(str(tmp_path), "demo", cfg)
    assert path == f"{tmp_path}/demo/dataset=toy-streets/{cfg.key()}.parquet"
    results.write_row(path, _ok_row(cfg, "demo", acc=0.75))
    row = pq.read_table(path).to_pylist()[0]
    assert row["trial_key"] == cfg.key() and row["grid"] == "demo" and row["status"] == "ok"
    assert row["seed"] == 3 and row["pixel_acc"] == 0.75 and row["mean_iou"] == 0.375
    assert row["device"] == "cpu"                  # the resolved device replaces "auto"
    assert row["paired_indices"] == [3, 7] and row["error"] is None
    assert row["started_at"].tzinfo is not None     # UTC timestamps
    assert os.listdir(os.path.dirname(path)) == [f"{cfg.key()}.parquet"]   # no temporary left


def test_failed_and_ok_rows_unify_and_only_ok_rows_are_done(tmp_path):
    root = str(tmp_path)
    good, bad = TrialConfig(seed=0), TrialConfig(seed=1)
    results.write_row(results.row_path(root, "g", good), _ok_row(good))
    results.write_row(results.row_path(root, "g", bad), _failed_row(bad))
    frame = results.read_rows(root, "g").set_index("seed")
    assert frame.loc[1, "status"] == "failed"
    assert frame.loc[1, "error"] == "RuntimeError: loss is nan at step 3"
    assert frame.loc[0, "pixel_acc"] == 0.5 and pd.isna(frame.loc[1, "pixel_acc"])
    assert results.done_keys(root, "g", [good, bad]) == {good.key()}
    assert results.row_status(results.row_path(root, "g", bad)) == "failed"
    assert results.row_status(results.row_path(root, "g", TrialConfig(seed=9))) is None


def test_hidden_files_and_ray_state_are_not_rows(tmp_path):
    cfg = TrialConfig()
    results.write_row(results.row_path(str(tmp_path), "g", cfg), _ok_row(cfg))
    (tmp_path / "g" / "dataset=toy-streets" / ".half.parquet.tmp").write_bytes(b"PAR1")
    (tmp_path / "_ray" / "g").mkdir(parents=True)
    (tmp_path / "_ray" / "g" / "x.parquet").write_bytes(b"PAR1")
    assert [os.path.basename(f) for f in results.row_files(str(tmp_path))] == \
        [f"{cfg.key()}.parquet"]


def test_copied_file_lands_whole_beside_the_rows_and_is_not_a_row(tmp_path):
    cfg = TrialConfig(seed=2)
    source = tmp_path / "samples.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    dest = results.samples_path(str(tmp_path / "res"), "g", cfg)
    assert dest == f"{tmp_path}/res/g/_samples/{cfg.key()}.png"
    assert results.copy_file(str(source), dest) == dest
    assert open(dest, "rb").read() == source.read_bytes()
    assert os.listdir(os.path.dirname(dest)) == [f"{cfg.key()}.png"]
    assert results.row_files(str(tmp_path / "res")) == []


def test_bad_status_and_unreadable_row_name_the_problem(tmp_path):
    with pytest.raises(results.ResultsError, match="status='done'"):
        results.make_row(TrialConfig(), "g", "done", code_version=CODE, started_at=T0,
                         finished_at=T0)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(results.ResultsError, match="junk.parquet"):
        results.row_status(str(junk))


def _write_one(root: str, seed: int, acc_pct: int, barrier) -> None:
    cfg = TrialConfig(seed=seed)
    barrier.wait()   # every writer starts its write at the same moment
    results.write_row(results.row_path(root, "g", cfg), _ok_row(cfg, acc=acc_pct / 100))


def _forty_writers(root: str, seeds: list[int]) -> None:
    """One OS process per writer, forked from a server that has imported sweeps.store.results (cheap
    to start, and no Ray/gRPC threads are copied into the children)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["sweeps.store.results"])
    barrier = ctx.Barrier(len(seeds))
    procs = [ctx.Process(target=_write_one, args=(root, s, i, barrier))
             for i, s in enumerate(seeds)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * len(seeds)


def test_forty_concurrent_writers_leave_forty_readable_rows(tmp_path):
    root = str(tmp_path)
    _forty_writers(root, list(range(40)))
    frame = results.read_rows(root, "g")
    assert sorted(frame["seed"]) == list(range(40))
    assert (frame["status"] == "ok").all() and frame["pixel_acc"].between(0, 0.39).all()
    assert not [n for n in os.listdir(tmp_path / "g" / "dataset=toy-streets") if n.startswith(".")]


def test_forty_writers_of_one_key_leave_one_whole_row(tmp_path):
    """Retries racing on one key: threads suffice (pyarrow writes and renames outside the GIL)."""
    root = str(tmp_path)
    barrier = threading.Barrier(40)
    threads = [threading.Thread(target=_write_one, args=(root, 5, i, barrier)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    folder = tmp_path / "g" / "dataset=toy-streets"
    assert os.listdir(folder) == [f"{TrialConfig(seed=5).key()}.parquet"]
    frame = results.read_rows(root, "g")
    assert len(frame) == 1 and frame["pixel_acc"].iloc[0] in {i / 100 for i in range(40)}


def test_stock_parquet_readers_see_one_dataset_column(tmp_path):
    """pandas on a grid's folder and pyarrow.dataset on the whole results root read the rows as
    they are (the dataset from the `dataset=` folder, never a clashing file column), beside the
    `_samples/` PNGs and Ray's `_ray/` state; the sweeps' own reader agrees."""
    import pyarrow.dataset as ds
    root = str(tmp_path)
    streets = [TrialConfig(seed=s) for s in range(3)]
    maps = TrialConfig(dataset="toy-maps", seed=0)
    for cfg in streets[:2]:
        results.write_row(results.row_path(root, "g", cfg), _ok_row(cfg, acc=0.25 * (cfg.seed + 1)))
    results.write_row(results.row_path(root, "g", streets[2]), _failed_row(streets[2]))
    results.write_row(results.row_path(root, "h", maps), _ok_row(maps, grid="h"))
    (tmp_path / "g" / "_samples").mkdir()
    (tmp_path / "g" / "_samples" / "x.png").write_bytes(b"\x89PNG not a row")
    (tmp_path / "_ray" / "g").mkdir(parents=True)
    (tmp_path / "_ray" / "g" / "experiment_state.json").write_text("{}")

    grid = pd.read_parquet(tmp_path / "g").set_index("seed").sort_index()
    assert list(grid["dataset"].astype(str)) == ["toy-streets"] * 3
    assert list(grid["status"]) == ["ok", "ok", "failed"]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    frame = table.to_pandas().set_index("trial_key")
    assert table.schema.field("dataset").type == "string" and len(frame) == 4
    assert frame.loc[maps.key(), "dataset"] == "toy-maps"
    assert frame.loc[streets[2].key(), "error"] == "RuntimeError: loss is nan at step 3"
    ours = results.read_rows(root).set_index("trial_key")
    assert ours.loc[maps.key(), "dataset"] == "toy-maps"
    assert ours.loc[streets[1].key(), "pixel_acc"] == 0.5
    assert results.read_row(results.row_path(root, "h", maps))["dataset"] == "toy-maps"
    from analysis import load_results
    loaded = load_results(root)
    assert sorted(loaded.ok["dataset"]) == ["toy-maps", "toy-streets", "toy-streets"]
    assert list(loaded.failed["trial_key"]) == [streets[2].key()]
