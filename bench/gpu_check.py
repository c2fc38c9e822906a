"""`make gpu-check`: the GPU path measured in one prepared run, <= 8 minutes on one H200.

Needs only what a bare GPU machine has (torch, torchvision, numpy, pandas, pyarrow,
scikit-learn, pytest): no Ray, no Optuna, no pip install. Run from the repository root:

    PYTHONPATH=. python3 bench/gpu_check.py [--out DIR]     # make gpu-check
    PYTHONPATH=. python3 bench/gpu_check.py --smoke --out DIR   # 32^2, a few CPU steps

Stages, each within what is left of BUDGET_S (a stage that runs out is recorded as such):
  1. pytest -m gpu over the test files that hold GPU tests (none of them imports Ray)
  2. bench/pack_throughput.py at 256^2 (ngf 64, 9 blocks): K = 1, 4, 8, 16 x fp32/bf16 x
     eager/graph, GB per member
  3. a real trial alone and a real pack of 8 through the trainer (trainer.run.loop), a few
     hundred steps each, eager (the default) and with `cuda_graphs=True` (on CUDA), with whether
     the graphs stayed on (their self-check) or fell back
It writes DIR (default bench/results/<date>-gpu/): pytest-gpu.txt, throughput.txt/.json,
trials.json, measured_rates_rows.csv (rows in sweeps/plan/measured_rates.csv's columns, for the
default (eager) path, to add by hand after a look) and summary.md, whose last line says whether
CUDA graphs should become the default (`graphs_verdict`). Nothing here has run on a GPU yet: the
first run measures.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 480            # the whole check: 8 minutes
GPU_TEST_FILES = ("tests/test_data_bank.py", "tests/test_engine.py", "tests/test_evaluate.py",
                  "tests/test_graph_step.py", "tests/test_metrics.py", "tests/test_pack.py",
                  "tests/test_selection_features.py")   # every file with a gpu-marked test
RATE_COLUMNS = ("device", "image_size", "ngf", "n_blocks", "precision", "pack",
                "trial_steps_per_s", "gb_per_trial", "source")
MILESTONE, GOAL = 60.0, 150.0   # trial-steps/s per H200 at 256^2 (issue 19)
# (image size, width, blocks, throughput steps x rounds, trial steps alone, pack steps)
FULL = dict(size=256, width=64, blocks=9, bench_steps=20, rounds=2, alone_steps=200,
            pack_steps=120, packs=(1, 4, 8, 16), pack_k=8, device="cuda")
SMOKE = dict(size=32, width=8, blocks=2, bench_steps=2, rounds=1, alone_steps=4, pack_steps=4,
             packs=(1, 2), pack_k=2, device="cpu")


class Clock:
    """Seconds left of the budget."""

    def __init__(self, budget: float):
        self.end = time.monotonic() + budget

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def run_command(argv: list[str], log: Path, timeout: float) -> dict:
    """Run a stage's command (PYTHONPATH = the repository), its output into `log`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=max(1.0, timeout))
        log.write_text(done.stdout + done.stderr)
        status = {"rc": done.returncode}
    except subprocess.TimeoutExpired as err:
        log.write_text(f"{err.stdout or ''}{err.stderr or ''}\ntimed out after {timeout:.0f} s\n")
        status = {"rc": None, "timed_out": True}
    return status | {"seconds": round(time.perf_counter() - started, 1)}


def stage_pytest(out: Path, clock: Clock, smoke: bool) -> dict:
    """pytest -m gpu (smoke: only collect them, which is what proves the files need no Ray)."""
    argv = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
            *GPU_TEST_FILES] + (["--collect-only"] if smoke else [])
    return run_command(argv, out / "pytest-gpu.txt", min(150.0, clock.left()))


def stage_throughput(out: Path, clock: Clock, spec: dict) -> dict:
    argv = [sys.executable, "bench/pack_throughput.py", "--device", spec["device"],
            "--image-size", str(spec["size"]), "--ngf", str(spec["width"]),
            "--n-blocks", str(spec["blocks"]), "--steps", str(spec["bench_steps"]),
            "--rounds", str(spec["rounds"]), "--packs", *map(str, spec["packs"]),
            "--json", str(out / "throughput.json")]
    if spec["device"] == "cpu":
        argv += ["--threads", "1"]
    status = run_command(argv, out / "throughput.txt", min(240.0, clock.left() - 90))
    if (out / "throughput.json").is_file():
        status["records"] = json.loads((out / "throughput.json").read_text())
    return status


def trial_config(spec: dict, seed: int, steps: int, graphs: bool = False):
    from trainer.core.config import TrialConfig
    size = spec["size"]
    return TrialConfig(dataset="toy-streets", mode="hybrid", paired_budget=5, unpaired=100,
                       seed=seed, steps=steps, image_size=size, load_size=round(size * 286 / 256),
                       ngf=spec["width"], ndf=spec["width"], n_blocks=spec["blocks"],
                       eval_limit=8, report_every=0, checkpoint_every=0, device=spec["device"],
                       cuda_graphs=graphs)


def stage_trials(out: Path, spec: dict) -> list[dict]:
    """A trial alone and a pack of spec['pack_k'] through the trainer's one loop: eager (the
    default), and on CUDA also with cuda_graphs (on the CPU the flag changes nothing)."""
    rows = []
    for graphs in ((False, True) if spec["device"] == "cuda" else (False,)):
        for what, k, steps in (("trial alone", 1, spec["alone_steps"]),
                               (f"pack of {spec['pack_k']}", spec["pack_k"], spec["pack_steps"])):
            rows.append(measure_trials(spec, what, k, steps, graphs))
    (out / "trials.json").write_text(json.dumps(rows, indent=1))
    return rows


def measure_trials(spec: dict, what: str, k: int, steps: int, graphs: bool) -> dict:
    """k trials of `steps` trained as one run: rate, memory, failures and the graph step's
    warnings (a capture or self-check failure warns once and goes eager: trainer.step.graph)."""
    import torch
    from trainer.run.loop import train_pack
    cfgs = [trial_config(spec, seed, steps, graphs) for seed in range(k)]
    cuda = spec["device"] == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        outcomes = train_pack(cfgs, [Path(root) / str(m) for m in range(k)])
    results = [o.result for o in outcomes]
    train_s = max(r.train_s for r in results if r) if any(results) else None
    fell_back = sorted({str(w.message) for w in seen if "CUDA graphs" in str(w.message)})
    return {"what": what, "k": k, "steps": steps, "precision": "fp32", "graphs": graphs,
            "graphed": graphs and cuda and not fell_back,
            "failures": [o.failure for o in outcomes if o.failure], "train_s": train_s,
            "trial_steps_per_s": k * steps / train_s if train_s else None,
            "gb_per_member": (torch.cuda.max_memory_allocated() / k / 2 ** 30 if cuda else None),
            "warnings": fell_back}


def graphs_verdict(trials: list[dict]) -> str:
    """Whether cuda_graphs should become the default: only where every real run with graphs
    kept them (no fallback, no failure) and trained faster than the same run eager."""
    graphed = [t for t in trials if t["graphs"]]
    if not graphed:
        return "CUDA graphs: not measured (no GPU); the default stays eager"
    eager = {t["what"]: t for t in trials if not t["graphs"]}
    ratios = {t["what"]: (t["trial_steps_per_s"] or 0) / (eager[t["what"]]["trial_steps_per_s"]
                                                         or float("inf")) for t in graphed}
    kept = all(t["graphed"] and not t["failures"] for t in graphed)
    said = ", ".join(f"{what} {r:.2f}x eager" for what, r in ratios.items())
    if kept and all(r > 1 for r in ratios.values()):
        return f"CUDA graphs: {said}, self-checks passed: make cuda_graphs the default"
    why = "faster nowhere" if kept and not any(r > 1 for r in ratios.values()) else (
        "not faster everywhere" if kept else "fell back or failed (see trials.json)")
    return f"CUDA graphs: {said}; {why}: keep the default eager"


def rate_rows(spec: dict, throughput: list[dict], trials: list[dict], device: str) -> list[dict]:
    """Rows for sweeps/plan/measured_rates.csv: the trainer's default (eager) path, from the
    bench's variants and the real trials."""
    sizes = dict(image_size=spec["size"], ngf=spec["width"], n_blocks=spec["blocks"])
    kind = "gpu" if spec["device"] == "cuda" else "cpu"
    rows = [dict(device=kind, **sizes, precision=r["precision"], pack=r["k"],
                 trial_steps_per_s=round(r["trial_steps_per_s"], 2),
                 gb_per_trial=None if r["gb_per_member"] is None else round(r["gb_per_member"], 2),
                 source=f"{device} bench/pack_throughput.py via make gpu-check ({r['label']})")
            for r in throughput if r["label"].startswith("K=") and not r["graphs"]]
    rows += [dict(device=kind, **sizes, precision=t["precision"], pack=t["k"],
                  trial_steps_per_s=round(t["trial_steps_per_s"], 2),
                  gb_per_trial=None if t["gb_per_member"] is None else round(t["gb_per_member"], 2),
                  source=f"{device} make gpu-check: a real trainer.run.loop {t['what']}, "
                         f"{t['steps']} steps")
             for t in trials if t["trial_steps_per_s"] and not t["graphs"]]
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RATE_COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


def summary(report: dict) -> str:
    """summary.md: every stage's status, the rates, the milestone."""
    lines = [f"# make gpu-check, {report['date']}", "", f"device: {report['device']}",
             f"sizes: {report['spec']['size']}^2, ngf {report['spec']['width']}, "
             f"{report['spec']['blocks']} blocks; budget {BUDGET_S} s, used {report['seconds']} s",
             "", "| stage | rc | seconds |", "|---|---|---|"]
    for name, status in report["stages"].items():
        lines.append(f"| {name} | {status.get('rc')} | {status.get('seconds')} |")
    lines += ["", "| variant | trial-steps/s | GB per member |", "|---|---|---|"]
    for r in report["throughput"]:
        gb = "" if r["gb_per_member"] is None else f"{r['gb_per_member']:.2f}"
        lines.append(f"| {r['label']} | {r['trial_steps_per_s']:.2f} | {gb} |")
    for t in report["trials"]:
        rate = t["trial_steps_per_s"]
        how = f"cuda_graphs (graphed to the end: {t['graphed']})" if t["graphs"] else "eager"
        lines.append(f"\n{t['what']}, {how}: {rate and round(rate, 2)} trial-steps/s over "
                     f"{t['steps']} steps; failures {t['failures'] or 'none'}; graph warnings "
                     f"{t['warnings'] or 'none'}")
    best = max([r["trial_steps_per_s"] for r in report["throughput"] if r["label"] != "reference"]
               + [t["trial_steps_per_s"] or 0 for t in report["trials"]], default=0)
    if report["spec"]["device"] == "cuda":
        lines.append(f"\nbest {best:.1f} trial-steps/s: milestone {MILESTONE:.0f} "
                     f"{'met' if best >= MILESTONE else 'not met'}, goal {GOAL:.0f} "
                     f"{'met' if best >= GOAL else 'not met'}")
    lines.append(f"\n{graphs_verdict(report['trials'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="results folder (default "
                        "bench/results/<date>-gpu, with --smoke a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="32^2, a few CPU steps, pytest "
                        "only collects: the CPU-testable parts, in seconds")
    args = parser.parse_args(argv)
    spec = SMOKE if args.smoke else FULL
    if spec["device"] == "cuda":
        import torch
        if not torch.cuda.is_available():
            print("error: gpu-check needs a CUDA GPU (none here); --smoke runs on the CPU",
                  file=sys.stderr)
            return 2
    date = datetime.date.today().isoformat()
    if args.out:
        out = Path(args.out)
    else:
        out = (Path(tempfile.mkdtemp(prefix="gpu-check-smoke-")) if args.smoke
               else ROOT / "bench" / "results" / f"{date}-gpu")
    out.mkdir(parents=True, exist_ok=True)
    clock, started = Clock(BUDGET_S), time.perf_counter()
    stages = {"pytest -m gpu": stage_pytest(out, clock, args.smoke),
              "pack_throughput": stage_throughput(out, clock, spec)}
    throughput = stages["pack_throughput"].pop("records", [])
    began = time.perf_counter()
    trials = stage_trials(out, spec)
    stages["trials"] = {"rc": 0, "seconds": round(time.perf_counter() - began, 1)}
    device = device_name(spec["device"])
    write_rows(out / "measured_rates_rows.csv", rate_rows(spec, throughput, trials, device))
    report = dict(date=date, device=device, spec=spec, stages=stages, throughput=throughput,
                  trials=trials, seconds=round(time.perf_counter() - started, 1))
    (out / "summary.md").write_text(summary(report))
    print((out / "summary.md").read_text() + f"\nwritten: {out}")
    failed = [n for n, s in stages.items() if s.get("rc") != 0]
    return 1 if failed else 0


def device_name(device: str) -> str:
    if device != "cuda":
        return "cpu"
    import torch
    return torch.cuda.get_device_name()


if __name__ == "__main__":
    sys.exit(main())
