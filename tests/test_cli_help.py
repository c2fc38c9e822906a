"""Every flag of every CLI explains itself: a help text, its default where it has one, its
choices; the trial CLI's help comes from TrialConfig's field comments."""
from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from trainer.run import cli
from trainer.core.config import TrialConfig


def unexplained(parser: argparse.ArgumentParser) -> list[str]:
    """Flags with no help, or with a default (not None / False) their help does not show."""
    bad = []
    formatter = parser._get_formatter()   # what --help prints for each flag
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = formatter._get_help_string(action) or ""
        shows_default = "default" in text
        has_default = not (action.default is None or action.default is False
                           or action.default == [] or action.required)
        if len(text) < 12 or (has_default and not shows_default):
            bad.append(action.option_strings[-1])
    return bad


def test_every_trial_field_is_a_flag_with_its_comment_type_and_default():
    parser = cli.build_parser()
    help_text = " ".join(parser.format_help().split())
    docs = cli.field_docs()
    assert set(docs) == {f.name for f in fields(TrialConfig)}
    for f in fields(TrialConfig):
        section, doc = docs[f.name]
        assert doc and section, f.name                     # every field has a comment
        kind = f.type.replace(" | None", " or None")
        assert " ".join(doc.split()) in help_text, f.name
        assert f"[{kind}, default: {f.default}]" in help_text, f.name
    assert "--mode {paired,unpaired,hybrid}" in help_text
    assert "weight of the paired L1 to the truth (paired steps) [float, default: 150.0]" \
        in help_text
    assert "trial config: losses (paper: 1 / 10 / 10 / 150):" in parser.format_help()
    assert "one of: cityscapes, gta5, pix2pix" in help_text        # the dataset registry
    assert unexplained(parser) == []


def test_the_comment_parser_joins_continued_lines():
    _, doc = cli.field_docs()["unpaired_labels_root"]
    assert doc == ("that label-only dataset's folder (real GTA5 / Synscapes need one); "
                   "None = its default (toy: the cache)")


def test_selection_cli_flags_share_the_trial_fields_help():
    from trainer.selection.__main__ import build_parser
    parser = build_parser()
    text = " ".join(parser.format_help().split())
    assert "strategy for the paired samples (trainer.selection); one of: kcenter, kmedoids, " \
           "random, typiclust [str, default: kmedoids] (TrialConfig.selection)" in text
    assert unexplained(parser) == []


@pytest.mark.parametrize("argv", [["--image-size", "64"],
                                  ["--image-size", "64", "--load-size", "64"]])
def test_load_size_follows_image_size_unless_given(argv):
    cfg = cli.config_from_args(cli.build_parser().parse_args(["--workdir", "w", *argv]))
    assert cfg.load_size == (72 if len(argv) == 2 else 64)


def test_analysis_cli_shows_defaults_and_choices():
    from analysis.__main__ import build_parser
    parser = build_parser()
    assert unexplained(parser) == []
    text = " ".join(parser.format_help().split())
    assert "--format {md,latex,csv}" in text and "[default: md]" in text


def test_the_dataset_facts_export_runs_as_a_module(tmp_path):
    """`python -m trainer.eval.facts` prints the JSON analysis/dataset_facts.json holds."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "trainer.eval.facts"], capture_output=True,
                         text=True, cwd=root)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout)
    assert facts["cityscapes"]["protocols"] == {"AtoB": "segmentation", "BtoA": "fcn-score"}
    assert facts["gta5"]["protocols"] is None and facts["toy-maps"]["is_maps"] is True


@pytest.mark.parametrize("module", ["trainer.eval.judge", "trainer.eval.official"])
def test_the_documented_eval_modules_run_with_python_m(module):
    """README / docs/contracts.md name `python -m trainer.eval.judge` and `.official`."""
    import subprocess
    import sys
    from pathlib import Path
    run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:") and "--dataset" in run.stdout
