"""README's commands, run as README shows them.

Every command in README's ```bash blocks is listed in COMMANDS: either a test here runs it
through the same CLI (with small overrides where the full run is long, named in its entry),
another test already does exactly that (named, and checked to exist), or it cannot run on a
2-core machine without GPUs, real datasets or a network (the reason is stated). A command added
to README without an entry fails `test_every_readme_command_is_run_or_has_a_reason`.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from analysis.compact import is_compacted
from analysis.readme import section_of

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@dataclass(frozen=True)
class Entry:
    pattern: str   # a regex the whole command (continuations joined, comment cut) matches
    how: str       # "run: <test here>", "covered: <tests/file.py::test>", or "not here: <why>"


COMMANDS = (
    Entry(r"make demo", "run: test_the_demo_sweep_its_tables_report_and_stock_readers "
          "(the Makefile's demo recipe, asserted to be run_grid.py alone, with steps=20)"),
    Entry(r"make test", "not here: it is this suite"),
    Entry(r"python -m trainer\.train --dataset toy-streets .*",
          "run: test_one_trial_as_readme_shows (steps 300 -> 20)"),
    Entry(r"python -m trainer\.selection .*", "run: test_choosing_the_pairs_as_readme_shows"),
    Entry(r"python sweeps/run_grid\.py --grid table2 --dry-run",
          "run: test_dry_runs_as_readme_shows"),
    Entry(r"python sweeps/run_grid\.py --grid table2 --data-root data/cityscapes.*",
          "not here: needs Cityscapes on disk and GPUs; the same flags on toy data run in "
          "tests/test_sweeps*.py"),
    Entry(r"python sweeps/tune_weights\.py --grid demo --trials 40",
          "covered: tests/test_tune_weights.py::"
          "test_a_study_records_its_trials_stops_weak_ones_and_prints_usable_weights"),
    Entry(r"python sweeps/tune_weights\.py --grid table2 --dataset cityscapes .*",
          "not here: needs Cityscapes on disk"),
    Entry(r"python sweeps/tune_weights\.py --grid demo --resume",
          "covered: tests/test_tune_weights.py::"
          "test_a_killed_study_resumes_to_the_requested_trials_none_duplicated"),
    Entry(r"pip install -e '\.\[dashboard\]' && optuna-dashboard .*",
          "not here: installs an optional package and serves a web page"),
    Entry(r"python -m analysis results --grid demo",
          "run: test_the_demo_sweep_its_tables_report_and_stock_readers"),
    Entry(r"python -m analysis results --table 1 --format latex .*",
          "run: test_a_paper_table_in_latex_with_its_plots_as_readme_shows"),
    Entry(r"tensorboard --logdir results/_ray/demo/tensorboard",
          "run: test_the_demo_sweep_its_tables_report_and_stock_readers (the folder holds "
          "event files; the server itself is not started)"),
    Entry(r"python -m trainer\.train --dataset cityscapes .*--export-dir .*",
          "covered: tests/test_export.py::test_trial_cli_exports_the_final_evaluation "
          "(toy-streets, which has Cityscapes' layout)"),
    Entry(r"python -m trainer\.eval\.official .*",
          "covered: tests/test_export.py::"
          "test_official_evaluator_agrees_with_fewpair_on_exported_predictions"),
    Entry(r"python sweeps/run_grid\.py --grid (science|fidelity) --storage results",
          "run: test_dry_runs_as_readme_shows (the full grid trains for ~30 minutes)"),
    Entry(r"python -m analysis results --grid (science|fidelity)( --seed-plot .*)?",
          "not here: needs that grid's rows (README's reproduction section is made from them)"),
    Entry(r"ray get-auth-token --generate",
          "covered: tests/test_cluster_join.py::"
          "test_a_token_cluster_joined_with_its_token_runs_the_sweep "
          "(tests/ray_heads.py runs it in a private HOME; make test-cluster)"),
    Entry(r"ray start --head --port=6379",
          "covered: tests/test_cluster_join.py::"
          "test_a_token_cluster_joined_with_its_token_runs_the_sweep (on a free port)"),
    Entry(r"RAY_AUTH_MODE=token ray start --address=HEAD_IP:6379",
          "covered: tests/test_cluster_up.py::test_ray_up_runs_the_smoke_grid_on_the_worker "
          "(cluster-onprem.yaml's worker start command, on a host of its own)"),
    Entry(r"RAY_AUTH_MODE=token python sweeps/run_grid\.py --grid table2 --address HEAD_IP:6379 .*",
          "covered: tests/test_cluster_join.py::"
          "test_a_token_cluster_joined_with_its_token_runs_the_sweep (a one-trial grid file)"),
    Entry(r"python sweeps/run_grid\.py --grid science-gpu .*",
          "run: test_dry_runs_as_readme_shows (the grid itself is sized for GPUs)"),
    Entry(r"python sweeps/run_grid\.py --grid verdicts(-maps)?( --set steps=\d+)? "
          r"--storage results",
          "run: test_dry_runs_as_readme_shows (the full runs train for 5 to 30 minutes each)"),
    Entry(r"python -m analysis evidence results docs/evidence --grid verdicts "
          r"--grid verdicts-maps",
          "covered: tests/test_analysis_evidence.py::"
          "test_evidence_copies_rows_compacted_and_without_local_paths (needs the grids' rows)"),
    Entry(r"python -m analysis readme docs/evidence",
          "run: test_readme_reproduction_section_is_what_the_committed_rows_print"),
    Entry(r"python -m analysis docs/evidence --claims-plot docs/claims\.png",
          "run: test_the_claims_plot_of_the_committed_rows_as_readme_shows"),
)


def readme_commands(text: str) -> list[str]:
    """The commands of README's ```bash blocks: `\\` continuations joined, `# comments` cut."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("#"):   # a comment line
                continue
            command = " ".join(re.sub(r"\s#\s.*$", "", line).split())
            if command:
                commands.append(command)
    return commands


def entry_for(command: str) -> Entry:
    matches = [e for e in COMMANDS if re.fullmatch(e.pattern, command)]
    assert len(matches) == 1, f"README command {command!r} matches {len(matches)} entries"
    return matches[0]


def test_every_readme_command_is_run_or_has_a_reason():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 15, commands                     # the parser found the blocks
    used = {entry_for(c).pattern for c in commands}
    assert used == {e.pattern for e in COMMANDS}, "entries no README command uses any more"
    here = Path(__file__).read_text(encoding="utf-8")
    for entry in COMMANDS:
        kind, _, what = entry.how.partition(": ")
        assert kind in ("run", "covered", "not here"), entry
        if kind == "run":   # the named test is in this file
            assert f"def {what.split()[0]}(" in here, entry
        if kind == "covered":   # the named test exists where it says
            path, name = what.split()[0].split("::")
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), entry


def readme_command(pattern: str) -> list[str]:
    """The README command matching `pattern`, split as a shell would."""
    found = [c for c in readme_commands(README.read_text(encoding="utf-8"))
             if re.fullmatch(pattern, c)]
    assert found, pattern
    return shlex.split(found[0])


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """argv as README writes it (`python ...` is this venv's Python; script paths are the
    checkout's), run from `cwd` so that its `results/` lands there."""
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    argv = [str(ROOT / a) if a.startswith(("sweeps/", "bench/")) else a for a in argv]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with `flag`'s value replaced (the small override of a long command)."""
    at = argv.index(flag)
    return [*argv[:at + 1], value, *argv[at + 2:]]


def test_one_trial_as_readme_shows(tmp_path):
    argv = readme_command(r"python -m trainer\.train --dataset toy-streets .*")
    assert argv[-1] == "[--json]"   # README's optional flag
    argv = with_flag([*argv[:-1], "--json"], "--steps", "20")
    done = run(argv, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])   # --json: one object, the last line
    assert result["steps_done"] == 20 and 0 <= result["pixel_acc"] <= 1
    assert (tmp_path / "runs" / "one").is_dir()


def test_choosing_the_pairs_as_readme_shows(tmp_path):
    argv = readme_command(r"python -m trainer\.selection .*")
    done = run([*argv[:-1], "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    chosen = json.loads(done.stdout)
    assert (chosen["budget"], chosen["pool_size"], len(chosen["unpaired"])) == (5, 200, 200)
    assert len(set(chosen["paired"])) == 5 and set(chosen["paired"]) <= set(chosen["unpaired"])


def test_dry_runs_as_readme_shows(tmp_path):
    """The grids README runs whole (table2's dry run) and those whose full run is too long here
    (science, fidelity: ~30 minutes; science-gpu: GPU-sized), each planned with --dry-run."""
    for pattern, grid in [(r"python sweeps/run_grid\.py --grid table2 --dry-run", "table2"),
                          (r"python sweeps/run_grid\.py --grid science --storage results",
                           "science"),
                          (r"python sweeps/run_grid\.py --grid fidelity --storage results",
                           "fidelity"),
                          (r"python sweeps/run_grid\.py --grid science-gpu .*", "science-gpu"),
                          (r"python sweeps/run_grid\.py --grid verdicts --set steps=500 .*",
                           "verdicts"),
                          (r"python sweeps/run_grid\.py --grid verdicts-maps .*",
                           "verdicts-maps")]:
        argv = readme_command(pattern)
        done = run(argv if "--dry-run" in argv else [*argv, "--dry-run"], tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        plan = re.search(rf"^grid {grid}: (\d+) trials, \1 to run, 0 done$", done.stdout, re.M)
        assert plan and int(plan[1]) >= 30, done.stdout[-2000:]
        assert "estimate, packed:" in done.stdout
        assert not (tmp_path / "results").exists()   # a dry run writes nothing


def test_readme_reproduction_section_is_what_the_committed_rows_print():
    """README's "Does it reproduce?" is generated from the rows under docs/evidence: the
    command README shows, run in the checkout, prints exactly that section, and its --check
    agrees. The rows are the grids' own, compacted, without machine-local paths."""
    argv = readme_command(r"python -m analysis readme docs/evidence")
    done = run(argv, ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == section_of(README.read_text(encoding="utf-8"))
    check = run([*argv, "--check", "README.md"], ROOT)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    grids = sorted(p.name for p in (ROOT / "docs" / "evidence").iterdir())
    assert grids == ["verdicts", "verdicts-maps"]
    for grid in grids:
        files = list((ROOT / "docs" / "evidence" / grid).glob("dataset=*/*"))
        assert len(files) == 1 and is_compacted(files[0].name), files   # one file per grid
        assert files[0].stat().st_size < 1_000_000
        rows = pd.read_parquet(files[0])                                  # a stock reader
        assert rows["samples_png"].isna().all() and set(rows["grid"]) == {grid}
        assert sorted(set(rows["steps"])) == [500, 1000, 2000]
        assert rows["curve_step"].notna().all()


def test_the_claims_plot_of_the_committed_rows_as_readme_shows(tmp_path):
    """Run where docs/evidence is the committed rows; the plot lands in tmp_path's docs/."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "evidence").symlink_to(ROOT / "docs" / "evidence",
                                                target_is_directory=True)
    done = run(readme_command(r"python -m analysis docs/evidence --claims-plot docs/claims\.png"),
               tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    plots = sorted(p.name for p in (tmp_path / "docs").glob("*.png"))
    assert plots == ["claims-verdicts-maps.png", "claims-verdicts.png"], plots
    assert "### The paper's claims against training length" in done.stdout


def test_a_grid_file_as_readme_writes_it(tmp_path):
    """README's YAML block, saved as my_grid.yaml: its 12 trials planned under its name."""
    block = re.search(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)[1]
    (tmp_path / "my_grid.yaml").write_text(block, encoding="utf-8")
    done = run(["python", "sweeps/run_grid.py", "--grid-file", "my_grid.yaml", "--dry-run"],
               tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^grid my-grid: 12 trials, 12 to run, 0 done$", done.stdout, re.M)


def test_a_paper_table_in_latex_with_its_plots_as_readme_shows(paper_grid_root, tmp_path):
    """Run where `results` is a folder of Table 1 rows (written by the real row writer)."""
    (tmp_path / "results").symlink_to(paper_grid_root, target_is_directory=True)
    done = run(readme_command(r"python -m analysis results --table 1 --format latex .*"),
               tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\\begin{tabular}" in done.stdout and "Table 1" in done.stdout
    for plot in ("budget.png", "seeds.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot


@pytest.mark.slow
def test_the_demo_sweep_its_tables_report_and_stock_readers(tmp_path):
    """`make demo` is run_grid.py on the demo grid; run here with steps=20 (the demo trains
    1,000), then README's analysis, report, TensorBoard and stock-reader lines on its rows."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo: install\n\t\$\(PY\) sweeps/run_grid\.py\n", makefile, re.M)
    done = run(["python", "sweeps/run_grid.py", "--set", "steps=20"], tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert re.search(r"^sweep demo: 9/9 trials done, 0 running, 0 failed", done.stdout, re.M)
    assert "Traceback" not in done.stdout + done.stderr
    results = tmp_path / "results"
    keys = {p.stem for p in (results / "demo" / "dataset=toy-streets").glob("*.parquet")}
    assert len(keys) == 9
    assert {p.stem for p in (results / "demo" / "_samples").glob("*.png")} == keys
    assert list((results / "_ray" / "demo" / "tensorboard").rglob("events.out.tfevents.*"))

    tables = run(readme_command(r"python -m analysis results --grid demo"), tmp_path)
    assert tables.returncode == 0, tables.stderr[-3000:]
    assert "### Table 2: photos -> labels, unpaired pool + a few pairs" in tables.stdout
    report = run(["python", "-m", "analysis", "results", "--grid", "demo", "--html",
                  "report.html"], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert all(key in (tmp_path / "report.html").read_text(encoding="utf-8") for key in keys)

    # README: `pd.read_parquet("results/demo")` or
    # `pyarrow.dataset.dataset("results", partitioning="hive")`
    stock = ("import pandas as pd, pyarrow.dataset as ds; "
             "a = pd.read_parquet('results/demo'); "
             "b = ds.dataset('results', partitioning='hive').to_table().to_pandas(); "
             "print(len(a), sorted(set(a.status)), len(b), sorted(set(b.dataset)))")
    read = run(["python", "-c", stock], tmp_path)
    assert read.returncode == 0, read.stderr[-3000:]
    assert read.stdout.split() == ["9", "['ok']", "9", "['toy-streets']"]
