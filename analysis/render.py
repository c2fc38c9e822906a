"""Writers for built tables: markdown (default), LaTeX (booktabs, best per column bold), CSV.

Markdown and LaTeX print each table with its notes and the seeds its cells lack, then the
failed trials. CSV is long-form and numeric: one line per cell and metric with every
statistic (the mean's 95 % CI too), the primary metric's comparison with random on selector
cells, the paper's value, and the cell's missing and failed seeds.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from analysis.axes import display
from analysis.display import (LATEX, MARKDOWN, axis_title, display_frame, effects_caption,
                              effects_frame, missing_lines, notes, seed_ranges)
from analysis.effects import EFFECT_COLUMNS, selection_effects
from analysis.errors import AnalysisError
from analysis.load import NOT_RUN
from analysis.stats import STATS
from analysis.tables import TableResult

Writer = Callable[[list[TableResult], pd.DataFrame], str]
WRITERS: dict[str, Writer] = {}
CSV_FLOAT = "%.6g"  # six significant digits: far below any seed-to-seed spread
VS_RANDOM = tuple(c for c in EFFECT_COLUMNS if c != "n")   # CSV: the primary metric's comparison
FAILED_COLUMNS = ("trial_key", "grid", "dataset", "mode", "paired_budget", "unpaired",
                  "selection", "seed", "status", "error")


def writer(name: str) -> Callable[[Writer], Writer]:
    def register(fn: Writer) -> Writer:
        WRITERS[name] = fn
        return fn
    return register


def render(tables: list[TableResult], fmt: str = "md", failed: pd.DataFrame | None = None) -> str:
    """The tables (and the failed trials) in format `fmt`: md, latex or csv."""
    if fmt not in WRITERS:
        raise AnalysisError(f"unknown format {fmt!r} (valid: {', '.join(WRITERS)})")
    return WRITERS[fmt](tables, failed if failed is not None else pd.DataFrame())


def title(table: TableResult) -> str:
    return f"Table {table.spec.id}: {table.spec.title} ({table.dataset})"


# --- markdown ---------------------------------------------------------------------------------
@writer("md")
def to_markdown(tables: list[TableResult], failed: pd.DataFrame) -> str:
    sections = [_markdown_table(t) for t in tables]
    if not failed.empty:
        sections.append(f"### {_failed_title(failed)}\n\n"
                        + failed_frame(failed).to_markdown(index=False, disable_numparse=True))
    return "\n\n".join(sections) + "\n"


def _markdown_table(table: TableResult) -> str:
    body = display_frame(table, MARKDOWN).to_markdown(index=False, disable_numparse=True)
    lines = [f"### {title(table)}", "", body]
    lines += [""] + [f"- {n}" for n in notes(table)] if notes(table) else []
    effects = effects_frame(table)
    if not effects.empty:
        lines += ["", effects_caption(table), "",
                  effects.to_markdown(index=False, disable_numparse=True)]
    missing = missing_lines(table)
    if missing:
        expect = ("the seeds planned for it" if table.seeds is None
                  else f"seeds {seed_ranges(list(table.seeds))}")
        lines += ["", f"Missing seeds (every cell expects {expect}):"]
        lines += [f"- {m}" for m in missing]
    return "\n".join(lines)


# --- LaTeX ------------------------------------------------------------------------------------
@writer("latex")
def to_latex(tables: list[TableResult], failed: pd.DataFrame) -> str:
    """booktabs tables (\\toprule, \\midrule, \\bottomrule) via pandas' Styler; notes, missing
    seeds and failed trials follow as LaTeX comments so the output compiles as it is."""
    sections = [_latex_table(t) for t in tables]
    if not failed.empty:
        rows = failed_frame(failed).to_string(index=False).splitlines()
        sections.append("\n".join(f"% {line}" for line in [f"{_failed_title(failed)}:", *rows]))
    return "\n\n".join(sections) + "\n"


def _latex_table(table: TableResult) -> str:
    frame = display_frame(table, LATEX)
    axes = [axis_title(a) for a in table.axes]
    styler = (frame.style.hide(axis="index")
              .format(escape="latex", subset=axes)
              .format_index(escape="latex", axis=1))
    tex = styler.to_latex(
        hrules=True, position_float="centering",
        caption=_latex_text(title(table)),
        label=f"tab:fewpair-{table.spec.id}-{table.dataset}",
        column_format="l" * len(axes) + "r" * (frame.shape[1] - len(axes)))
    effects = effects_frame(table)
    rows = effects.to_string(index=False).splitlines() if not effects.empty else []
    comments = [*notes(table), *missing_lines(table),
                *([effects_caption(table), *rows] if rows else [])]
    return tex.rstrip("\n") + "".join(f"\n% {c}" for c in comments)


def _latex_text(text: str) -> str:
    """Caption text: LaTeX's special characters escaped, '->' as an arrow."""
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text.replace("->", r"$\rightarrow$")


# --- CSV --------------------------------------------------------------------------------------
@writer("csv")
def to_csv(tables: list[TableResult], failed: pd.DataFrame) -> str:
    records = [record for table in tables for record in _csv_records(table)]
    axes = list(dict.fromkeys(axis_title(a) for table in tables for a in table.axes))
    columns = ["table", "dataset", "protocol", *axes, "metric", *STATS, *VS_RANDOM, "paper",
               "paper_std", "paper_note", "seeds", "missing_seeds", "failed_seeds"]
    return pd.DataFrame(records, columns=columns).to_csv(index=False, float_format=CSV_FLOAT)


def _csv_records(table: TableResult) -> list[dict]:
    absent = _seeds_by_cell(table, failed_only=False)
    failures = _seeds_by_cell(table, failed_only=True)
    effects = _effects_by_cell(table)
    out = []
    for _, cell in table.cells.iterrows():
        key = tuple(cell[a] for a in table.axes)
        base = {"table": table.spec.id, "dataset": table.dataset, "protocol": table.spec.protocol,
                **{axis_title(a): display(cell[a]) for a in table.axes}}
        for metric in table.metrics:
            paper = cell.get(f"{metric}.paper")
            out.append({**base, "metric": metric,
                        **{s: cell[f"{metric}.{s}"] for s in STATS},
                        **(effects.get(key, {}) if metric == table.headline[0] else {}),
                        "paper": paper, "paper_std": cell.get(f"{metric}.paper_std"),
                        "paper_note": cell.get("paper_note", "") if pd.notna(paper) else "",
                        "seeds": " ".join(map(str, cell["seeds"])),
                        "missing_seeds": " ".join(map(str, absent.get(key, []))),
                        "failed_seeds": " ".join(map(str, failures.get(key, [])))})
    return out


def _effects_by_cell(table: TableResult) -> dict[tuple, dict]:
    """Per selector cell, its comparison with random (VS_RANDOM columns)."""
    effects = selection_effects(table)
    return {tuple(row[a] for a in table.axes): {c: row[c] for c in VS_RANDOM}
            for _, row in effects.iterrows()}


def _seeds_by_cell(table: TableResult, failed_only: bool) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for _, row in table.missing.iterrows():
        if failed_only and row["reason"] == "no row":
            continue
        out.setdefault(tuple(row[a] for a in table.axes), []).append(int(row["seed"]))
    return out


def _failed_title(failed: pd.DataFrame) -> str:
    """'Failed trials (2)', or 'Failed and unwritten trials (5)' when planned trials lack rows."""
    unwritten = (failed["status"] == NOT_RUN).any()
    return f"Failed {'and unwritten ' if unwritten else ''}trials ({len(failed)})"


def failed_frame(failed: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in FAILED_COLUMNS if c in failed]
    frame = failed[columns].astype(object).where(failed[columns].notna(), "")
    if "error" in frame:
        frame["error"] = [str(e).strip().splitlines()[0] if str(e).strip() else ""
                          for e in frame["error"]]
    return frame.astype(str)
