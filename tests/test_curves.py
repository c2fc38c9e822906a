"""Training curves: real Tune trials of the real trainer, watched three ways at once --
TensorBoard event files (fewpair's CleanBoard: runs named by the fields that vary, metrics under
their own names, read back with TensorBoard's own event reader),
an MLflow file store (one run per trial, every config field a parameter, metrics against
steps) and Weights & Biases in offline mode (a run folder per trial)."""
from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune

from sweeps.plan import grids
from sweeps.tune.tracking import tracking_callbacks
from sweeps.tune.trainable import Sweep, run_trial
from sweeps.tune.board import BOARD_DIR, clean_board, run_name

LOSS_TERMS = ("g_total", "adv_g", "d_x", "d_y", "cycle_x", "idt_x")   # in every unpaired step
STEPS = [2, 4]


def _scalars(event_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(event_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


@pytest.mark.slow
def test_tensorboard_mlflow_and_wandb_see_each_trial_against_its_steps(
        ray_session, tmp_path, monkeypatch):
    from trainer.data import toy_root
    root = str(toy_root("toy-streets", "small"))
    hybrid = grids.expand(grids.get_grid("smoke"))[:2]
    cfgs = [c.replace(data_root=root, steps=STEPS[-1], report_every=2, checkpoint_every=0)
            for c in hybrid]
    assert [c.mode for c in cfgs] == ["hybrid", "hybrid"]
    configs = {c.key(): c.to_row() for c in cfgs}
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    (tmp_path / "wandb").mkdir()
    callbacks = [clean_board(), *tracking_callbacks(str(tmp_path / "mlruns"), "fewpair-test",
                                                    "curves", configs)]
    trainable = tune.with_parameters(run_trial, configs=configs,
                                     sweep=Sweep("curves", str(tmp_path / "rows"), "git:t", False))
    points = [{"trial_key": c.key(), "selection": c.selection} for c in cfgs]   # as run_grid's
    from ray.tune.search.basic_variant import BasicVariantGenerator
    space = {k: tune.choice([p[k] for p in points]) for k in points[0]}
    tuner = tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(
        search_alg=BasicVariantGenerator(points_to_evaluate=points), num_samples=len(points),
        trial_name_creator=run_name),
        run_config=tune.RunConfig(name="curves", storage_path=str(tmp_path / "ray"), verbose=0,
                                  callbacks=callbacks))
    assert not tuner.fit().errors

    board = tmp_path / "ray" / "curves" / BOARD_DIR
    names = {f"selection={c.selection},{c.key()[:6]}": c for c in cfgs}
    assert sorted(p.name for p in board.iterdir()) == sorted(names)   # no hashes, no ids
    assert not list((tmp_path / "ray" / "curves").glob("*/events.out.tfevents.*"))  # no 2nd
    for name in names:
        scalars = _scalars(board / name)
        assert not [t for t in scalars if t.startswith("ray/") or t in
                    ("done", "row_written", "skipped", "training_iteration", "time_total_s")]
        for term in LOSS_TERMS:                    # each report_every: the trainer's steps
            assert [step for step, _ in scalars[term]] == STEPS, term
        assert {s for s, _ in scalars["mean_iou"]} == {STEPS[-1]}

    import mlflow
    client = mlflow.MlflowClient(f"file:{tmp_path / 'mlruns'}")
    runs = client.search_runs([client.get_experiment_by_name("curves").experiment_id])
    assert sorted(r.data.params["trial_key"] for r in runs) == sorted(configs)
    for run in runs:
        cfg = configs[run.data.params["trial_key"]]
        assert names[run.info.run_name].key() == run.data.params["trial_key"]   # named alike
        assert run.data.params["selection"] == cfg["selection"]
        assert run.data.params["lambda_paired"] == "150.0" and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "g_total")
        assert [m.step for m in history] == STEPS
        assert 0 <= run.data.metrics["pixel_acc"] <= 1

    offline = sorted((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(offline) == 2
    assert all(list(folder.glob("run-*.wandb")) for folder in offline)


def test_a_missing_tracker_package_is_named_with_its_install(monkeypatch):
    import importlib.util

    from sweeps.tune.tracking import TrackingError
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(TrackingError, match=r"--wandb needs the wandb package: "
                                            r"pip install 'fewpair\[wandb\]'"):
        tracking_callbacks(None, "proj", "g", {})
    assert tracking_callbacks(None, None, "g", {}) == []
