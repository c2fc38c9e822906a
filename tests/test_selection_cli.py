"""`python -m trainer.selection`: prints the chosen files, writes the manifest, exits 2 with a
one-line `error: ...` on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.data import open_split, toy_root
from trainer.selection import build_manifest
from trainer.selection.__main__ import main
from trainer.selection.resnet import WEIGHTS_ENV


@pytest.fixture(scope="module")
def small_root():
    return str(toy_root("toy-streets", "small"))


def test_lists_the_paired_files_with_their_archetypes(small_root, capsys):
    assert main(["--dataset", "toy-streets", "--root", small_root, "--pool", "12", "--budget", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    m = build_manifest("toy-streets", root=small_root, pool_size=12, budget=3)
    reader = open_split("toy-streets", "train", small_root)
    assert lines[0] == f"manifest {m.path}"
    assert lines[1] == "pool: 12 of 40 by kmedoids; features: thumbnails-offline"
    assert lines[2] == "paired: 3 by kmedoids"
    assert lines[3:] == [f"  {i:6d}  {reader.stems[i]}  ({reader.archetypes[i]})" for i in m.paired]


def test_json_output_is_the_manifest_written_by_the_module_entry_point(small_root):
    done = subprocess.run([sys.executable, "-m", "trainer.selection", "--dataset", "toy-streets",
                           "--root", small_root, "--pool", "-1", "--strategy", "random",
                           "--budget", "5", "--seed", "4", "--json"],
                          capture_output=True, text=True, check=True)
    printed = json.loads(done.stdout)
    assert printed["seed"] == 4 and len(printed["paired"]) == 5 and printed["unpaired"] == list(range(40))
    stored = json.loads(Path(printed["path"]).read_text())
    assert stored == {k: v for k, v in printed.items() if k != "path"}


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(small_root):
    """`... --json | head`: the reader is gone before the manifest is printed (its end of the
    pipe closed at once, as head's is after the lines it wanted)."""
    run = subprocess.Popen([sys.executable, "-m", "trainer.selection", "--dataset",
                            "toy-streets", "--root", small_root, "--pool", "-1", "--strategy",
                            "random", "--budget", "5", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run.stdout.close()
    err = run.stderr.read()
    assert run.wait(timeout=120) == 0 and err == "", err


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "error: --budget=0 must be >= 1 (or -1: the whole pool)"),
    (["--budget", "3", "--strategy", "best"], "error: unknown selection strategy 'best' "
                                              "(valid: kcenter, kmedoids, random, typiclust)"),
    (["--budget", "3", "--pool", "50"], "error: unpaired=50 is larger than toy-streets train's 40 samples"),
    (["--budget", "13", "--pool", "12"], "error: budget=13 is larger than the pool of 12 samples"),
    (["--budget", "3", "--features", "resnet50-imagenet"],
     "error: resnet50-imagenet needs ImageNet ResNet50 weights: none in "),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(small_root, capsys, monkeypatch, tmp_path,
                                                    args, message):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["--dataset", "toy-streets", "--root", small_root] + args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message) and err.count("\n") == 1


def test_unknown_dataset_is_one_line(capsys):
    assert main(["--dataset", "citiscapes", "--budget", "1"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: unknown dataset 'citiscapes' (did you mean 'cityscapes'?) (valid: cityscapes,")
