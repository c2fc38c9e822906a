"""Run Cityscapes' official pixel-level evaluator on predictions exported by a trial.

    python -m trainer.eval.official --dataset-root data/cityscapes --predictions runs/one/export

The evaluator (`cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling`) runs unchanged, the
way Cityscapes documents it: `CITYSCAPES_DATASET` names the dataset (it scores every
`gtFine/val/*/*_gtFine_labelIds.png`, so export the whole val split: `--eval-limit 0`),
`CITYSCAPES_RESULTS` the predictions, `CITYSCAPES_EXPORT_DIR` where its JSON goes. One shim:
cityscapesscripts 2.3.0 (the newest) calls `numpy.in1d`, which NumPy 2.4 removed; it is
restored as `numpy.isin` (the same result, reshaped by the caller) before the evaluator runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

EVALUATOR = "cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling"
RESULT_JSON = "resultPixelLevelSemanticLabeling.json"   # the evaluator's output file name


def run_official(dataset_root: str | Path, predictions: str | Path,
                 out_dir: str | Path) -> dict:
    """Run the evaluator in this process; returns its JSON (`averageScoreClasses` = mIoU)."""
    import numpy
    if not hasattr(numpy, "in1d"):
        numpy.in1d = numpy.isin
    os.environ.update(CITYSCAPES_DATASET=str(dataset_root), CITYSCAPES_RESULTS=str(predictions),
                      CITYSCAPES_EXPORT_DIR=str(out_dir))
    argv, sys.argv = sys.argv, [EVALUATOR]       # no arguments: its documented search mode
    try:
        runpy.run_module(EVALUATOR, run_name="__main__")
    finally:
        sys.argv = argv
    return json.loads((Path(out_dir) / RESULT_JSON).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.eval.official",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-root", required=True,
                        help="Cityscapes-layout folder holding gtFine/val (real or toy-streets)")
    parser.add_argument("--predictions", required=True,
                        help="a trial's --export-dir: one label-id PNG per val image")
    parser.add_argument("--out", default=None,
                        help="folder for the evaluator's JSON [default: a temporary folder]")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("cityscapesscripts") is None:
        print("error: the official evaluator needs cityscapesscripts: "
              "pip install 'fewpair[cityscapes]'", file=sys.stderr)
        return 2
    for flag, path in (("--dataset-root", args.dataset_root), ("--predictions", args.predictions)):
        if not Path(path).is_dir():
            print(f"error: {flag} {path}: no such folder", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        out.mkdir(parents=True, exist_ok=True)
        scores = run_official(args.dataset_root, args.predictions, out)
    print(f"official mean IoU (19 classes): {scores['averageScoreClasses']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
