"""fewpair analysis: the paper's tables and plots from results rows (Parquet only; never
imports trainer or ray).

    from analysis import report
    print(report("results", grid="science", plot="curves.png", seed_plot="seeds.png"))

CLI: `python -m analysis RESULTS_DIR [--table 1] [--format md|latex|csv] [--plot out.png]`;
`python -m analysis compact RESULTS_DIR` (analysis.compact).

The names below are imported on first use: a module that needs only the row layout
(analysis.compact, read by the sweeps' own row reader in every trial) does not pull in
matplotlib and scipy (~3 s).
"""
from __future__ import annotations

import importlib
import sys
import types

_HOMES = {
    "selection_effects": "analysis.effects", "AnalysisError": "analysis.errors",
    "Results": "analysis.load", "load_results": "analysis.load", "with_planned": "analysis.load",
    "plot_budget_curves": "analysis.plots", "plot_seed_distributions": "analysis.plots",
    "render": "analysis.render", "Report": "analysis.report", "build_report": "analysis.report",
    "report": "analysis.report", "TABLES": "analysis.tables", "TableResult": "analysis.tables",
    "build_table": "analysis.tables",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """`report` and `render` name both a function and its module: importing the module
    (analysis.report) must not make `from analysis import report` the module."""

    def __setattr__(self, name: str, value) -> None:
        if not (name in _HOMES and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
