"""`python -m analysis RESULTS_DIR [--table 1] [--format md|latex|csv] [--html report.html]`

Prints the paper's tables regenerated from a results folder (local or any pyarrow URI).
`python -m analysis readme EVIDENCE_DIR` prints README's "Does it reproduce?" (analysis.readme).
`python -m analysis evidence RESULTS_DIR EVIDENCE_DIR --grid NAME` copies a grid's rows there,
compacted, without machine-local paths (analysis.evidence).
`python -m analysis compact RESULTS_DIR` gathers each dataset folder's rows into one file
(analysis.compact; a results folder named `compact`, `readme` or `evidence` is `./compact`,
`./readme`, `./evidence`). A user
mistake (missing folder, unknown table, unreadable file) prints one `error: ...` line to
stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from analysis.cli import DefaultsFormatter, OneLineParser, parse_margin, parse_seeds
from analysis.errors import AnalysisError
from analysis.render import WRITERS
from analysis.report import build_report
from analysis.tables import TABLES


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m analysis", description=__doc__.splitlines()[2],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="results folder (or a grid's folder, or a URI such as s3://...)")
    parser.add_argument("--grid", help="read only this grid's folder [default: every grid]")
    parser.add_argument("--table", action="append", metavar="ID",
                        help=f"paper table to print, repeatable; one of {', '.join(TABLES)} "
                             "[default: every table with rows]")
    parser.add_argument("--format", default="md", choices=list(WRITERS), dest="fmt",
                        help="md: markdown tables; latex: booktabs; csv: long-form numbers")
    parser.add_argument("--html", metavar="HTML",
                        help="also write a self-contained HTML report here (tables, plots, "
                             "qualitative grids, every trial's config)")
    parser.add_argument("--plot", metavar="PNG", help="write metric-vs-budget curves here")
    parser.add_argument("--seed-plot", metavar="PNG",
                        help="write per-seed box/strip plots per budget and selector here")
    parser.add_argument("--dataset", help="only this dataset's rows [default: every dataset]")
    parser.add_argument("--metric", help="metric to plot [default: the protocol's first: "
                                         "pixel_acc or maps_pixel_acc]")
    parser.add_argument("--seeds", type=parse_seeds, metavar="LIST",
                        help="seeds every cell should have, e.g. 0-9 or 0,1,5 "
                             "[default: every seed seen in the table]")
    parser.add_argument("--claim-margin", type=parse_margin, metavar="X",
                        help="the claims' margin, in metric units: X for every metric, or "
                             "METRIC=X[,METRIC=X] [default: pixel_acc=0.02, mean_iou=0.01, "
                             "maps_pixel_acc=0.02]; a Δ CI inside ±X agrees; "
                             "one whose upper end is below +X does not reproduce the paper's "
                             "A > B (analysis/verdict.py)")
    parser.add_argument("--claims-plot", metavar="PNG",
                        help="write each grid's claims against training length here (Δ and "
                             "its CI vs steps; one file per grid, suffixed, when several)")
    parser.add_argument("--out", metavar="FILE",
                        help="write the tables here [default: standard output]")
    return parser


def write_atomic(path: str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise AnalysisError(f"{folder}: no such folder for --out {path}")
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".", suffix=".tmp",
                                     delete=False, encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def compact_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m analysis compact", formatter_class=DefaultsFormatter,
                           description="Gather each <grid>/dataset=<name> folder's one-row "
                                       "files into one compacted-<id>.parquet (atomic, "
                                       "idempotent; later trials still write one file each).")
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="local results folder (or one grid's folder)")
    return parser


def compact_main(argv: list[str]) -> int:
    from analysis.compact import compact
    args = compact_parser().parse_args(argv)
    try:
        done = compact(args.results_dir)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for folder in done:
        print(f"{folder.folder}: {folder.absorbed} loose rows absorbed, {folder.rows} rows in "
              f"one compacted file")
    if not done:
        print(f"{args.results_dir}: already compact (no loose rows)")
    return 0


def evidence_main(argv: list[str]) -> int:
    from analysis.evidence import copy_evidence
    parser = OneLineParser(prog="python -m analysis evidence", formatter_class=DefaultsFormatter,
                           description="Copy the named grids' rows from RESULTS_DIR into "
                                       "EVIDENCE_DIR (docs/evidence), one compacted file per "
                                       "dataset folder, without machine-local paths; a grid "
                                       "already there is replaced.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="local results folder")
    parser.add_argument("evidence_dir", metavar="EVIDENCE_DIR",
                        help="where the committed rows live (docs/evidence)")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME", required=True,
                        help="a grid to copy, repeatable")
    args = parser.parse_args(argv)
    try:
        copied = copy_evidence(args.results_dir, args.evidence_dir, args.grid)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for done in copied:
        print(f"{done.folder}: {done.rows} rows")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["readme"]:   # README's "Does it reproduce?" from committed rows
        from analysis.readme import readme_main
        return readme_main(argv[1:])
    if argv[:1] == ["compact"]:
        return compact_main(argv[1:])
    if argv[:1] == ["evidence"]:
        return evidence_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        result = build_report(args.results_dir, args.grid, tables=args.table, fmt=args.fmt,
                              plot=args.plot, seed_plot=args.seed_plot, dataset=args.dataset,
                              metric=args.metric, expected_seeds=args.seeds, html=args.html,
                              claim_margin=args.claim_margin, claims_plot=args.claims_plot)
        if args.out:
            write_atomic(args.out, result.text)
        else:
            sys.stdout.write(result.text)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in (*result.plots, *([result.html] if result.html else [])):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
