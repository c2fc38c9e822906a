"""fewpair analysis: the paper's tables and plots from results rows (Parquet only; never
imports trainer or ray).

    from analysis import report
    print(report("results", grid="science", plot="curves.png", seed_plot="seeds.png"))

CLI: `python -m analysis RESULTS_DIR [--table 1] [--format md|latex|csv] [--plot out.png]`.
"""
from analysis.effects import selection_effects
from analysis.errors import AnalysisError
from analysis.load import Results, load_results, with_planned
from analysis.plots import plot_budget_curves, plot_seed_distributions
from analysis.render import render
from analysis.report import Report, build_report, report
from analysis.tables import TABLES, TableResult, build_table

__all__ = [
    "AnalysisError", "Report", "Results", "TABLES", "TableResult", "build_report", "build_table",
    "load_results", "plot_budget_curves", "plot_seed_distributions", "render", "report",
    "selection_effects", "with_planned",
]
