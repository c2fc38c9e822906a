"""Bad input ends in one-line DataError naming the file or value -- and, from the preview CLI, in
`error: ...` on stderr, exit status 2, no traceback and no output file."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from trainer.data import DataError, open_split
from trainer.data.preview import main as preview_main


def _cityscapes(root, label_value=7, with_label=True, photo_bytes=None):
    """One-image Cityscapes val tree; options break it in one way."""
    photos, labels = root / "leftImg8bit" / "val" / "ulm", root / "gtFine" / "val" / "ulm"
    photos.mkdir(parents=True)
    labels.mkdir(parents=True)
    photo = photos / "ulm_000000_000019_leftImg8bit.png"
    if photo_bytes is None:
        Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(photo)
    else:
        photo.write_bytes(photo_bytes)
    if with_label:
        Image.fromarray(np.full((4, 8), label_value, np.uint8)).save(
            labels / "ulm_000000_000019_gtFine_labelIds.png")
    return photo


# case -> (builds the tree, returns (dataset, split, root, substring the message must name))
def _missing_root(tmp):
    return "cityscapes", "val", tmp / "no-such-folder", "no-such-folder"


def _missing_split(tmp):
    _cityscapes(tmp)
    return "cityscapes", "train", tmp, str(tmp / "leftImg8bit" / "train")


def _unknown_split(tmp):
    _cityscapes(tmp)
    return "cityscapes", "holdout", tmp, "'holdout'"


def _photo_without_label(tmp):
    photo = _cityscapes(tmp, with_label=False)
    return "cityscapes", "val", tmp, "ulm_000000_000019_gtFine_labelIds.png is missing"


def _not_an_image(tmp):
    _cityscapes(tmp, photo_bytes=b"this is not a png")
    return "cityscapes", "val", tmp, "ulm_000000_000019_leftImg8bit.png: not a readable image"


def _label_out_of_range(tmp):
    _cityscapes(tmp, label_value=40)
    return "cityscapes", "val", tmp, "label id 40 out of range"


def _odd_ab_width(tmp):
    (tmp / "val").mkdir()
    Image.fromarray(np.zeros((6, 13, 3), np.uint8)).save(tmp / "val" / "7.png")
    return "pix2pix", "val", tmp, "7.png: AB image width 13 is odd"


def _unknown_dataset(tmp):
    return "cityscape", "val", tmp, ("unknown dataset 'cityscape' (did you mean 'cityscapes'?) "
                                       "(valid: cityscapes, gta5")


def _real_set_without_root(tmp):
    return "gta5", "train", None, "'gta5' needs a root folder"


def _empty_split(tmp):
    (tmp / "labels").mkdir()
    return "gta5", "train", tmp, "holds no images"


CASES = [_missing_root, _missing_split, _unknown_split, _photo_without_label, _not_an_image,
         _label_out_of_range, _odd_ab_width, _unknown_dataset, _real_set_without_root, _empty_split]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_reader_raises_one_line_naming_the_problem(tmp_path, case):
    dataset, split, root, named = case(tmp_path)
    with pytest.raises(DataError) as err:
        reader = open_split(dataset, split, root)
        reader[0]  # some problems only show when the file is decoded
    message = str(err.value)
    assert named in message and "\n" not in message
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_preview_cli_prints_error_and_exits_2(tmp_path, case, capsys):
    dataset, split, root, named = case(tmp_path)
    out = tmp_path / "preview.png"
    argv = ["--dataset", dataset, "--split", split, "--out", str(out)]
    argv += [] if root is None else ["--root", str(root)]
    assert preview_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".preview.png*"))


def test_preview_cli_process_exit_status(tmp_path):
    """The real entry point: status 2 and a single stderr line, no traceback."""
    run = subprocess.run([sys.executable, "-m", "trainer.data.preview", "--dataset", "nope",
                          "--out", str(tmp_path / "p.png")], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.startswith("error: unknown dataset 'nope'") and run.stderr.count("\n") == 1


def test_both_clis_say_a_missing_label_once(tmp_path):
    """issue 21 saw `error: photo ... has no label` twice; as processes (stderr a pipe) each CLI
    prints it exactly once and nothing else."""
    import shutil
    photo = _cityscapes(tmp_path, with_label=False)            # val and train: one photo each,
    shutil.copytree(tmp_path / "leftImg8bit" / "val", tmp_path / "leftImg8bit" / "train")
    shutil.copytree(tmp_path / "gtFine" / "val", tmp_path / "gtFine" / "train")   # no labels
    named = f"error: photo {str(photo).replace('/val/', '/train/')} has no label: "
    runs = {"preview": ["trainer.data.preview", "--dataset", "cityscapes", "--root",
                        str(tmp_path), "--split", "train", "--out", str(tmp_path / "p.png")],
            "train": ["trainer.train", "--dataset", "cityscapes", "--data-root", str(tmp_path),
                      "--mode", "paired", "--paired-budget", "1", "--selection", "random",
                      "--workdir", str(tmp_path / "w")]}
    for name, argv in runs.items():
        run = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
        assert run.returncode == 2 and run.stderr.startswith(named), (name, run.stderr)
        assert run.stderr.count("\n") == 1 and run.stdout == "", (name, run.stderr)
