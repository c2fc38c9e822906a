"""Official evaluation: the predictions fewpair scores, exported as Cityscapes label-id PNGs,
are scored by cityscapesscripts' own evalPixelLevelSemanticLabeling, run unchanged as a
process on toy-streets (which is in Cityscapes' layout) -- and it agrees with fewpair."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from trainer.run.cli import main
from trainer.core.config import TrialConfig
from trainer.data import open_split, toy_root
from trainer.data.palette import CLASS_NAMES, TRAIN_TO_LABEL
from trainer.eval.evaluate import EXPORT_SUFFIX, evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


def official_scores(dataset_root, predictions, out_dir) -> dict:
    """The official evaluator in its own process, as Cityscapes documents it (environment
    variables, no arguments), through trainer.eval.official (which restores numpy.in1d)."""
    run = subprocess.run([sys.executable, "-m", "trainer.eval.official", "--dataset-root",
                          str(dataset_root), "--predictions", str(predictions), "--out",
                          str(out_dir)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1].startswith("official mean IoU (19 classes): 0.")
    return json.loads((out_dir / "resultPixelLevelSemanticLabeling.json").read_text())


def test_official_evaluator_agrees_with_fewpair_on_exported_predictions(tmp_path):
    """The photo itself as the 'label colours' (nearest palette colour per pixel): varied,
    imperfect predictions over many classes, on every val image of the small toy-streets."""
    root = toy_root("toy-streets", "small")
    export, out = tmp_path / "pred", tmp_path / "eval"
    out.mkdir()
    cfg = TrialConfig(data_root=str(root), image_size=64, load_size=64, export_dir=str(export))
    ours = evaluate(lambda x: x, cfg, "cpu")
    stems = open_split("toy-streets", "val", root).stems
    assert sorted(p.name for p in export.iterdir()) == sorted(s + EXPORT_SUFFIX for s in stems)
    label_ids = np.unique(np.asarray(Image.open(export / (stems[0] + EXPORT_SUFFIX))))
    assert set(label_ids) <= set(TRAIN_TO_LABEL[:-1]) and len(label_ids) > 2

    official = official_scores(root, export, out)
    assert official["averageScoreClasses"] == pytest.approx(ours["mean_iou"], abs=1e-12)
    assert 0.02 < ours["mean_iou"] < 0.9                 # neither empty nor trivially perfect
    for name in CLASS_NAMES:
        theirs, mine = official["classScores"][name], ours[f"iou_{name.replace(' ', '_')}"]
        assert (np.isnan(theirs) and np.isnan(mine)) or theirs == pytest.approx(mine, abs=1e-12)


def test_trial_cli_exports_the_final_evaluation(tmp_path, capsys):
    export, root = tmp_path / "export", str(toy_root("toy-streets", "small"))
    code = main(["--workdir", str(tmp_path / "w"), "--data-root", root, "--unpaired", "8",
                 "--paired-budget", "1",
                 "--steps", "2", "--image-size", "32", "--ngf", "8", "--ndf", "8",
                 "--n-blocks", "2", "--eval-limit", "3", "--export-dir", str(export), "--json"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stems = open_split("toy-streets", "val", root).stems[:3]
    assert code == 0 and row["export_dir"] == str(export)
    assert sorted(p.name for p in export.iterdir()) == sorted(s + EXPORT_SUFFIX for s in stems)
    assert row["trial_key"] == TrialConfig.from_dict(
        {k: row[k] for k in ("data_root", "unpaired", "paired_budget", "steps", "image_size",
                             "load_size", "ngf", "ndf", "n_blocks", "eval_limit")}
    ).key()   # export_dir is not in the key
