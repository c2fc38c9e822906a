"""One static HTML page of a results folder: `python -m analysis RESULTS --html report.html`.

Self-contained (every image is inlined as a data: URI, no script, no network), so the file can
be mailed or attached as it is. In order: a summary (grids, trials ok / failed, code versions);
per paper table the cells (mean and 95 % CI over seeds, spread, the paper's number beside),
notes, selection-vs-random comparisons (Δ CI, p, Holm p, P(improvement)) and missing seeds;
the paper's claims with their verdicts (analysis.claims) and against training length
(analysis.lengths);
per cell a qualitative grid (the fixed first eval images: input, each seed's output, truth)
and its trials, each trial's full config one click away (<details>); the plots; the failed
trials.
"""
from __future__ import annotations

import datetime as dt
import html
import os
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from analysis import gallery
from analysis.axes import display
from analysis.cell_words import cell_words
from analysis.claims import ClaimSet
from analysis.claims_text import (LEFT, claims_caption, claims_frame, claims_notes,
                                  claims_title)
from analysis.computed import rows_by_cell
from analysis.display import (Spelling, display_frame, effects_caption, effects_frame,
                              missing_lines, notes)
from analysis.lengths import length_sections
from analysis.load import Results
from analysis.plots import plot_budget_curves, plot_seed_distributions, plot_targets
from analysis.render import failed_frame, title
from analysis.schema import CONFIG_COLUMNS
from analysis.tables import TableResult

BOLD_OPEN, BOLD_CLOSE = "\x01", "\x02"   # bold markers, turned into <b> after escaping
HTML_SPELLING = Spelling(" ± ", "†", BOLD_OPEN + "{}" + BOLD_CLOSE)
TRIAL_COLUMNS = ("trial_key", "grid", "status", "error", "code_version", "started_at",
                 "finished_at", "steps_done", "train_s", "device")
CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 24px 48px;
color:#1d2430;background:#fff}
h1{margin:24px 0 4px}h2{margin-top:40px;border-bottom:2px solid #d8dee8;padding-bottom:4px}
h3{margin:20px 0 6px;font-size:16px}.muted{color:#5b6575}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #d8dee8;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef2f7;position:sticky;top:0}tr:nth-child(even) td{background:#f8fafc}
td.txt,th.txt{text-align:left}.scroll{overflow-x:auto}
.cell{border:1px solid #d8dee8;border-radius:6px;padding:8px 12px;margin:10px 0}
.grid img,.plot img{max-width:100%;height:auto;image-rendering:pixelated}
.cols{display:grid;font-size:12px;color:#5b6575;text-align:center}
details{margin:2px 0}summary{cursor:pointer}ul{margin:4px 0}
nav a{margin-right:12px}code{background:#eef2f7;padding:0 3px;border-radius:3px}
"""


def write_html(results: Results, tables: list[TableResult], out: str | os.PathLike, *,
               metric: str | None = None, dataset: str | None = None,
               claims: Sequence[ClaimSet] = ()) -> Path:
    """Write the page for `results`, its built `tables` and the paper's `claims` tested on its
    rows (analysis.claims) to `out` (atomically)."""
    sections = [_summary(results, tables)]
    sections += [_table_section(t, results) for t in tables]
    sections += [f"<h2>{_e(claims_title(c))}</h2><p class='muted'>{_e(claims_caption(c))}</p>"
                 + _frame_html(claims_frame(c), axes=LEFT)
                 + "".join(f"<p class='muted'>{_e(n)}</p>" for n in claims_notes(c))
                 for c in claims]
    sections += [f"<h2>{_e(title)}</h2><p class='muted'>{_e(caption)}</p>"
                 + _frame_html(frame, axes=1)
                 for title, caption, frame in length_sections(list(claims))]
    sections.append(_plots_section(results, dataset, metric))
    failed = results.failed if dataset is None else results.failed[
        results.failed["dataset"] == dataset]
    if not failed.empty:
        sections.append(f"<h2 id='failed'>Failed trials ({len(failed)})</h2>"
                        + _frame_html(failed_frame(failed)))
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>fewpair report: {_e(results.root)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")
    return _write_atomic(Path(out), page)


# --- sections ---------------------------------------------------------------------------------
def _summary(results: Results, tables: list[TableResult]) -> str:
    rows = results.all
    versions = sorted({str(v) for v in rows.get("code_version", pd.Series(dtype=str)).dropna()})
    links = "".join(f"<a href='#{_anchor(t)}'>Table {t.spec.id} ({_e(t.dataset)})</a>"
                    for t in tables)
    return (f"<h1>fewpair report</h1><p class='muted'>{_e(results.root)} · grids "
            f"{_e(', '.join(results.grids))} · {len(results.ok)} trials ok, "
            f"{len(results.failed)} failed or not run · code {_e(', '.join(versions) or '?')} · "
            f"written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            f"<nav>{links}<a href='#plots'>Plots</a>"
            f"{'<a href=#failed>Failed</a>' if len(results.failed) else ''}</nav>"
            "<p>Each cell: mean over seeds with its t 95% CI (bold: best per column; "
            "fewer than 3 seeds: too few for an interval), n seeds, the spread of the first "
            "metric (std, median, 10th percentile, worst seed) and, where the paper "
            "reports the cell, its published value beside it. Under each table, every "
            "cell's qualitative grid (the same first eval images for every trial: input, each "
            "seed's output, ground truth) and its trials; click a trial for its full "
            "config.</p>")


def _table_section(table: TableResult, results: Results) -> str:
    parts = [f"<h2 id='{_anchor(table)}'>{_e(title(table))}</h2>",
             _frame_html(display_frame(table, HTML_SPELLING), axes=len(table.axes))]
    parts += [f"<ul>{''.join(f'<li>{_e(n)}</li>' for n in notes(table))}</ul>"] \
        if notes(table) else []
    effects = effects_frame(table)
    if not effects.empty:
        parts.append(f"<h3>Selection vs random ({_e(table.headline[0])})</h3><p class='muted'>"
                     f"{_e(effects_caption(table))}</p>"
                     + _frame_html(effects, axes=len(table.axes)))
    missing = missing_lines(table)
    if missing:
        parts.append("<h3>Missing seeds</h3><ul>"
                     + "".join(f"<li>{_e(m)}</li>" for m in missing) + "</ul>")
    parts.append("<h3>Cells</h3>")
    trials = _trials_by_cell(table, results)
    for _, cell in table.cells.iterrows():
        key = tuple(display(cell[a]) for a in table.axes)
        parts.append(_cell_html(table, cell, trials.get(key, pd.DataFrame()), results))
    return "".join(parts)


def _cell_html(table: TableResult, cell: pd.Series, rows: pd.DataFrame,
               results: Results) -> str:
    primary = table.headline[0]
    rows = rows.sort_values("seed") if "seed" in rows else rows
    head = (f"<div class='cell'><b>{_e(cell_words(table, cell))}</b> "
            f"<span class='muted'>· {int(cell['n'])} seeds ok · {_e(primary)} "
            f"{cell[f'{primary}.mean']:.3f}</span>")
    ok = rows[rows["status"] == "ok"] if len(rows) else rows
    grid = gallery.cell_grid([(f"seed {r['seed']}", _samples_path(r, results))
                              for _, r in ok.iterrows()])
    body = _grid_html(grid) if grid else "<p class='muted'>no samples images for this cell</p>"
    trials = "".join(_trial_html(r, primary) for _, r in rows.iterrows())
    return f"{head}{body}<div>{trials}</div></div>"


def _grid_html(grid: gallery.Grid) -> str:
    columns = "".join(f"<span>{_e(c)}</span>" for c in grid.columns)
    note = f"<p class='muted'>{_e(grid.note)}</p>" if grid.note else ""
    return (f"<div class='grid' style='max-width:{grid.width}px'>"
            f"<div class='cols' style='grid-template-columns:repeat({len(grid.columns)},1fr)'>"
            f"{columns}</div><img alt='qualitative grid: {_e(', '.join(grid.columns))}' "
            f"src='{gallery.data_uri(grid.image, grid.mime)}' width='{grid.width}'></div>{note}")


def _trial_html(row: pd.Series, primary: str) -> str:
    score = row.get(primary)
    score_text = f" · {primary} {score:.3f}" if isinstance(score, float) and score == score else ""
    summary = (f"seed {row.get('seed')} · {row.get('status')}{score_text} · trial "
               f"<code>{_e(row.get('trial_key'))}</code>")
    fields = [c for c in (*CONFIG_COLUMNS, *TRIAL_COLUMNS) if c in row and _shown(row[c])]
    table = "".join(f"<tr><th class='txt'>{_e(c)}</th><td class='txt'>{_e(row[c])}</td></tr>"
                    for c in fields)
    return f"<details><summary>{summary}</summary><table>{table}</table></details>"


def _plots_section(results: Results, dataset: str | None, metric: str | None) -> str:
    parts = ["<h2 id='plots'>Plots</h2>"]
    with tempfile.TemporaryDirectory() as scratch:
        for name, protocol in plot_targets(results, dataset):
            for draw, what in ((plot_budget_curves, "budget curves"),
                               (plot_seed_distributions, "per-seed distributions")):
                png = Path(scratch) / "plot.png"
                draw(results, png, dataset=name, protocol=protocol, metric=metric)
                parts.append(f"<div class='plot'><h3>{_e(name)} ({_e(protocol)}): {what}</h3>"
                             f"<img alt='{_e(what)}' src='{gallery.data_uri(png.read_bytes())}'>"
                             "</div>")
    return "".join(parts) if len(parts) > 1 else parts[0] + "<p>no finished trials</p>"


# --- helpers ----------------------------------------------------------------------------------
def _trials_by_cell(table: TableResult, results: Results) -> dict[tuple, pd.DataFrame]:
    """The rows (ok and failed) behind each cell (analysis.computed.rows_by_cell)."""
    return rows_by_cell(table, results.all)


def _samples_path(row: pd.Series, results: Results) -> str | None:
    """The row's samples PNG where it was written, else beside the rows of this folder."""
    written = row.get("samples_png")
    if isinstance(written, str) and os.path.isfile(written):
        return written
    name = f"{row['trial_key']}.png"
    for folder in (Path(results.root) / str(row["grid"]), Path(results.root)):
        if (folder / "_samples" / name).is_file():
            return str(folder / "_samples" / name)
    return None


def _frame_html(frame: pd.DataFrame, axes: int | None = None) -> str:
    """A table of strings: the first `axes` columns (default: the non-numeric ones) left."""
    left = range(axes) if axes is not None else [
        i for i, c in enumerate(frame) if not pd.api.types.is_numeric_dtype(frame[c])]
    def cls(i: int) -> str:
        return " class='txt'" if i in left else ""
    head = "".join(f"<th{cls(i)}>{_e(c)}</th>" for i, c in enumerate(frame.columns))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{_bold(_e(v))}</td>" for i, v in
                                    enumerate(row)) + "</tr>" for row in frame.itertuples(False))
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _shown(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and value != value))


def _bold(text: str) -> str:
    return text.replace(BOLD_OPEN, "<b>").replace(BOLD_CLOSE, "</b>")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _anchor(table: TableResult) -> str:
    return f"table-{table.spec.id}-{table.dataset}"


def _write_atomic(path: Path, text: str) -> Path:
    from analysis.errors import AnalysisError
    if not path.parent.resolve().is_dir():
        raise AnalysisError(f"{path.parent}: no such folder for the report {path.name}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path

