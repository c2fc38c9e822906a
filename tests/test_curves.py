"""Training curves: a real Tune trial of the real trainer writes TensorBoard event files (Ray's
TBX logger) whose loss terms are plotted against the trial's steps, read back with
TensorBoard's own event reader."""
from __future__ import annotations

from pathlib import Path

from ray import tune

from sweeps import grids
from sweeps.trainable import Sweep, run_trial

LOSS_TERMS = ("g_total", "adv_g", "d_x", "d_y", "cycle_x", "idt_x")   # in every unpaired step


def _scalars(event_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(event_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def test_tensorboard_sees_the_loss_terms_against_training_steps(ray_session, tmp_path):
    from trainer.data import toy_root
    hybrid = grids.expand(grids.get_grid("smoke"))[0]
    cfg = hybrid.replace(data_root=str(toy_root("toy-streets", "small")), steps=6,
                         report_every=2, checkpoint_every=0)
    assert cfg.mode == "hybrid"
    trainable = tune.with_parameters(run_trial, configs={cfg.key(): cfg.to_row()},
                                     sweep=Sweep("curves", str(tmp_path / "rows"), "git:t", False))
    tuner = tune.Tuner(trainable, param_space={"trial_key": cfg.key()},
                       run_config=tune.RunConfig(name="curves", storage_path=str(tmp_path / "ray"),
                                                 verbose=0))
    assert not tuner.fit().errors
    [event_file] = (tmp_path / "ray" / "curves").glob("*/events.out.tfevents.*")
    scalars = _scalars(event_file.parent)
    for term in LOSS_TERMS:
        steps = [step for step, _ in scalars[f"ray/tune/{term}"]]
        assert steps == [2, 4, 6], term          # the trainer's steps, not the report count
    paired = [step for step, _ in scalars["ray/tune/paired_x"]]   # only where a paired step ran
    assert paired and set(paired) <= {2, 4, 6}
    assert {s for s, _ in scalars["ray/tune/mean_iou"]} == {6}   # evaluated after step 6
