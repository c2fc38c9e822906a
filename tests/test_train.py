"""train() and its CLI on the real toy-streets files, selection manifests and evaluation:
every mode x mix x balance, which samples each step reads, reports and exact resume, the
synthetic-labels Y domain, errors, and a learning test."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import torch

from trainer.run.cli import main
from trainer.core.config import TrialConfig
from trainer.eval.evaluate import evaluate
from trainer.run.feed import label_indices
from trainer.run.schedule import default_steps, total_steps
from trainer.selection import manifest_for
from trainer.run.loop import PackRun, train
from trainer.run.trial import TrainError, TrialRun, prepare
from trainer.step.checkpoint import CHECKPOINT_FILE
from trainer.step.state import StepRules, build_state, translator
from trainer.step.watch import NonFiniteLoss

# 32^2 crops of 36^2, ngf/ndf 8, 2 blocks, a pool of 20 with 5 pairs, 4 test images.
TINY = dict(dataset="toy-streets", image_size=32, load_size=36, ngf=8, ndf=8, n_blocks=2,
            unpaired=20, paired_budget=5, eval_limit=4, device="cpu", steps=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny(**changes) -> TrialConfig:
    return TrialConfig(**(TINY | changes))


def split_indices(trial, steps: int) -> list[tuple[bool, int, int]]:
    """(paired, x split index, y index in its bank's source) of the first `steps` steps."""
    out = []
    for s in range(steps):
        slot = trial.plan.slot(s)
        if slot.paired:
            row = int(trial.feed.pair_rows[slot.index])
            index = trial.feed.pairs.indices[row]
            out.append((True, index, index))
        else:
            out.append((False, trial.feed.pool.indices[slot.index],
                        trial.feed.labels.indices[slot.y_index]))
    return out


MODES = [("paired", "interleave", True), ("unpaired", "interleave", True)] + [
    ("hybrid", mix, balance) for mix in ("interleave", "alternate", "staged")
    for balance in (True, False)]


@pytest.mark.parametrize("mode,mix,balance", MODES)
def test_every_mode_mix_and_balance_trains_on_the_right_samples(tmp_path, mode, mix, balance):
    two_epochs = {"paired": 10, "unpaired": 40, "hybrid": 80 if balance else 50}[mode]
    cfg = tiny(mode=mode, mix=mix, balance=balance, paired_budget=0 if mode == "unpaired" else 5,
               steps=two_epochs)                         # (staged splits the whole schedule)
    run = PackRun([TrialRun(cfg, tmp_path)])
    trial = run.members[0].trial
    manifest = manifest_for(cfg)
    epoch = trial.plan.epoch_length
    used = split_indices(trial, 2 * epoch)
    paired = Counter(i for p, i, _ in used if p)
    unpaired = Counter(i for p, i, _ in used if not p)
    if mode == "paired":   # pix2pix-like: only the pairs are decoded, every step is paired
        assert trial.feed.pool is None and trial.feed.labels is None
        assert sorted(trial.feed.pairs.indices) == manifest.paired
        assert paired == {i: 2 for i in manifest.paired} and not unpaired
    else:
        assert unpaired == {i: 2 for i in manifest.unpaired}
        assert {y for p, _, y in used if not p} <= set(manifest.unpaired)
        per_pair = 2 * (4 if balance else 1) if mode == "hybrid" else 0   # 20 pool / 5 pairs
        assert paired == {i: per_pair for i in manifest.paired if per_pair}
    run.run_steps(4)
    means = run.watch.flush()
    assert trial.state.step == 4 and all(v == v for v in means.values())
    assert ("paired_x" in means) == (mode != "unpaired" and any(p for p, _, _ in used[:4]))
    assert ("cycle_x" in means) == (mode != "paired")


def test_default_steps_follow_the_epoch(tmp_path):
    trial = prepare(tiny(steps=0), tmp_path)
    assert trial.plan.epoch_length == 40                       # 20 pool + 20 balanced pair slots
    assert trial.plan.total == default_steps(40) == 8000
    assert total_steps(tiny(steps=0)) == trial.plan.total      # what the sweeps plan with


@pytest.mark.numerics
def test_train_reports_checkpoints_and_resumes_exactly(tmp_path):
    cfg = tiny(steps=8, report_every=2, checkpoint_every=4)
    calls = []
    straight = train(cfg, tmp_path / "a", report=lambda m, c: calls.append((m.get("step"), c)))
    assert [step for step, _ in calls] == [2, 4, 6, 8, 8]   # every 2, and the final metrics
    assert [c is not None for _, c in calls] == [False, True, False, True, False]
    assert calls[1][1] == str(tmp_path / "a" / "checkpoint")
    assert straight.steps_done == 8 and straight.protocol == "segmentation"
    row = straight.to_row()
    assert 0 <= row["pixel_acc"] <= 1 and row["device"] == "cpu" and row["eval_s"] > 0
    assert row["paired_indices"] == manifest_for(cfg).paired and len(row["unpaired_indices"]) == 20

    class Preempted(Exception):
        pass

    def stop_after_checkpoint(metrics, checkpoint_dir):
        if checkpoint_dir and metrics["step"] == 4:
            raise Preempted
    with pytest.raises(Preempted):
        train(cfg, tmp_path / "b", report=stop_after_checkpoint)
    resumed = train(cfg, tmp_path / "b")
    a = torch.load(tmp_path / "a" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    for net in ("g", "f", "d_y", "d_x"):
        for name, tensor in a["nets"][net].items():
            assert torch.equal(tensor, b["nets"][net][name]), (net, name)
    assert torch.equal(a["rng"], b["rng"]) and b["step"] == 8
    assert resumed.metrics["pixel_acc"] == straight.metrics["pixel_acc"]

    with pytest.raises(TrainError, match="holds a checkpoint of trial .* not of this trial"):
        prepare(cfg.replace(seed=1), tmp_path / "b")


def test_synthetic_labels_feed_the_unpaired_y_domain(tmp_path):
    cfg = tiny(unpaired_labels="toy-synthlabels-close", unpaired=20)
    run = PackRun([TrialRun(cfg, tmp_path)])
    trial = run.members[0].trial
    labels = trial.feed.labels
    assert labels is not trial.feed.pool and labels.a is None
    assert labels.indices == label_indices(_split_size(cfg), 20, seed=0)
    ys = {y for p, _, y in split_indices(trial, trial.plan.epoch_length) if not p}
    assert ys <= set(labels.indices)
    run.run_steps(3)
    assert {"cycle_y", "idt_y"} <= set(run.watch.flush())


def _split_size(cfg: TrialConfig) -> int:
    from trainer.data import open_split
    return len(open_split(cfg.unpaired_labels, "train"))


def test_a_diverging_trial_names_step_and_term_and_leaves_no_checkpoint(tmp_path):
    cfg = tiny(mode="paired", lambda_paired=1e39)   # 1e39 * L1 overflows float32 at once
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 1: g_total = inf"):
        train(cfg, tmp_path)
    assert not (tmp_path / "checkpoint").exists()


def test_cli_prints_metrics_and_a_json_last_line(tmp_path, capsys):
    code = main(["--dataset", "toy-streets", "--mode", "hybrid", "--paired-budget", "5",
                 "--unpaired", "20", "--selection", "kmedoids", "--seed", "0", "--steps", "4",
                 "--image-size", "32", "--ngf", "8", "--ndf", "8", "--n-blocks", "2",
                 "--eval-limit", "4", "--device", "cpu", "--workdir", str(tmp_path), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    row = json.loads(out[-1])      # strict JSON (NaN would fail here)
    assert row["load_size"] == 36  # --image-size alone keeps CycleGAN's 286/256 ratio
    assert row["steps_done"] == 4 and row["mode"] == "hybrid" and row["trial_key"]
    assert 0 <= row["pixel_acc"] <= 1 and row["samples_png"].endswith("samples.png")
    assert any(line.split()[0] == "pixel_acc" for line in out[:-1])


@pytest.mark.parametrize("argv,message", [
    (["--mode", "pix2pix"], "error: mode='pix2pix' is not one of paired, unpaired, hybrid"),
    (["--dataset", "kitti"], "error: unknown dataset 'kitti'"),
    (["--dataset", "toy-synthlabels-far"], "error: dataset kind 'labels-only' has no evaluation"),
    (["--paired-budget", "30"], "error: paired_budget=30 is larger than the pool unpaired=20"),
    (["--mode", "paired", "--lambda-adv", "0", "--lambda-paired", "0"],
     "error: mode='paired' with every lambda of its terms at 0 trains nothing"),
    (["--variant", "released", "--balance"],   # explicit beats the preset, or is refused
     "error: balance=True conflicts with variant='released' (which trains unbalanced)"),
    (["--device", "cuda:7"], "error: device='cuda:7' but no CUDA device is available"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    if "cuda" in argv[-1] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["--workdir", str(tmp_path / "w"), "--unpaired", "20", "--steps", "2", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w" / "checkpoint").exists()


def test_cli_process_exits_2_without_a_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "trainer.train", "--workdir", str(tmp_path),
                          "--mode", "pix2pix"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr == "error: mode='pix2pix' is not one of paired, unpaired, hybrid\n"


@pytest.mark.slow
def test_hybrid_with_five_pairs_learns_photos_to_labels(tmp_path):
    """200 steps at 32^2 (lr 1e-3: a short toy schedule) against the same untrained networks."""
    cfg = tiny(steps=200, lr=1e-3, eval_limit=32, report_every=0, checkpoint_every=0)
    untrained = build_state(cfg, torch.device("cpu"), cfg.steps)
    rules = StepRules.from_config(cfg, torch.device("cpu"))
    before = evaluate(translator(untrained, rules, "AtoB"), cfg, "cpu")["pixel_acc"]
    after = train(cfg, tmp_path).metrics["pixel_acc"]
    assert after > before + 0.2, (before, after)
