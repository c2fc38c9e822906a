"""The HTML report: hand-made Table 1 rows whose samples PNGs are written by the trainer's own
writer (trainer.eval.evaluate.write_samples), so the panel layout the report cuts is the real one;
the page's content checked in Python, then loaded in a real headless Chromium: no console
message, every image decoded, a screenshot that is not blank."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import build_report, gallery
from analysis_rows import TABLE_1_VALUES, make_row, seg, write_rows
from trainer.eval.evaluate import write_samples

IMAGES = 3   # eval images in each samples PNG (the trainer writes up to 4)
CHECK = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.title = JSON.stringify({n: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)});
});</script>"""


def _scene(i: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed eval image i: (photo, label colours), 32 x 64 like a tiny 2:1 street."""
    y, x = np.mgrid[0:32, 0:64]
    photo = np.stack([(x * 4 + i * 40) % 256, y * 8, np.full_like(x, 90 + 40 * i)], -1)
    truth = np.zeros((32, 64, 3), np.int64)
    truth[y >= 12 + 3 * i] = (128, 64, 128)
    truth[y < 12 + 3 * i] = (70, 130, 180)
    return photo.astype(np.uint8), truth.astype(np.uint8)


def _write_samples(root: Path, row: dict) -> None:
    rng = np.random.default_rng(int(row["trial_key"][:8], 16))
    triplets = []
    for i in range(IMAGES):
        photo, truth = _scene(i)
        noise = rng.integers(0, 2, truth.shape[:2], dtype=bool)[..., None]
        triplets.append((photo, np.where(noise, 255 - truth, truth).astype(np.uint8), truth))
    folder = root / row["grid"] / "_samples"
    folder.mkdir(parents=True, exist_ok=True)
    write_samples(folder / f"{row['trial_key']}.png", triplets)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("html-results")
    rows = [make_row(seg(px), grid="paper", dataset="toy-streets", mode="paired", unpaired=-1,
                     paired_budget=budget, selection=selection, seed=seed)
            for (budget, selection), values in TABLE_1_VALUES.items()
            for seed, px in values.items()]
    rows.append(make_row(None, grid="paper", status="failed", error="RuntimeError: boom",
                         dataset="toy-streets", mode="paired", unpaired=-1, paired_budget=1,
                         selection="kmedoids", seed=3))
    write_rows(root, rows)
    for row in rows[:-1]:
        _write_samples(root, row)
    page = root / "report.html"
    result = build_report(root, html=page)
    assert result.html == page
    return page, rows


def test_samples_panels_are_cut_where_the_trainer_drew_them(tmp_path):
    photo, truth = _scene(1)
    write_samples(tmp_path / "s.png", [(photo, truth, truth)] * 2)
    panels = gallery.read_panels(tmp_path / "s.png")
    assert len(panels) == 2
    assert all(p.shape == (gallery.PANEL_HEIGHT, 2 * gallery.PANEL_HEIGHT, 3) for p in panels[0])
    assert np.array_equal(panels[1][1], panels[1][2])                # output == truth panels
    sky = panels[0][2][5, 5].astype(int)                             # inside, not the padding
    assert np.abs(sky - (70, 130, 180)).max() <= 2
    # a samples PNG written before the column labels: cut the same
    with Image.open(tmp_path / "s.png") as image:
        image.crop((0, gallery.LABEL_HEIGHT, image.width, image.height)).save(tmp_path / "o.png")
    old = gallery.read_panels(tmp_path / "o.png")
    assert all(np.array_equal(a, b) for row, before in zip(panels, old)
               for a, b in zip(row, before))


def test_page_holds_tables_grids_configs_and_plots(report_page):
    page, rows = report_page
    text = page.read_text()
    assert "Table 1: photos -&gt; labels, paired only: samples x selection (toy-streets)" in text
    assert "<td>.400 [.204, .596]</td><td>0.158</td>" in text    # 1 pair, random, 5 seeds
    assert "<td>+.200 [-.024, +.424]</td>" in text and "Holm" in text   # the comparisons
    assert "pixel_acc (Cityscapes paper)" in text and "<td>0.401</td>" in text
    assert "Selection vs random" in text and "Failed trials (1)" in text
    grids = re.findall(r"<img alt='qualitative grid: ([^']*)' src='data:image/jpeg;base64,", text)
    assert len(grids) == len(TABLE_1_VALUES) + 1   # a cell each; all pairs is Table 2's too
    assert "input, seed 0, seed 1, seed 2, seed 3, seed 4, truth" in grids   # 5 random seeds
    assert "input, seed 0, seed 1, seed 2, truth" in grids       # k-medoids: seed 3 failed
    assert text.count("<details>") == len(rows) + 1              # every trial, failed included
    for row in rows:
        assert f"<code>{row['trial_key']}</code>" in text
    assert "<th class='txt'>lambda_paired</th><td class='txt'>150.0</td>" in text
    cells = re.findall(r"<div class='cell'><b>([^<]*)</b>", text)   # cells named in words
    assert "1 pair, random" in cells and "5 pairs, k-medoids" in cells, cells
    assert "budget curves" in text and "per-seed distributions" in text
    assert "src='file:" not in text and "http" not in text       # self-contained


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                           *args], capture_output=True, text=True, timeout=120)


def test_chromium_loads_every_image_without_console_messages(report_page, tmp_path):
    binary = _chromium()
    page, _ = report_page
    check = page.with_name("check.html")          # beside the page: same relative paths
    check.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    run = _run_chromium(binary, tmp_path / "profile", "--dump-dom", check.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    status = json.loads(re.search(r"<title>(.*?)</title>", run.stdout).group(1)
                        .replace("&quot;", '"'))
    assert status["broken"] == [] and status["n"] == len(TABLE_1_VALUES) + 3   # grids + plots
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []

    shot = tmp_path / "shot.png"
    run = _run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}",
                        "--window-size=1280,1600", "--hide-scrollbars", page.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1280)
    assert pixels.std() > 20 and (pixels < 200).mean() > 0.02    # text and images, not blank


def test_cli_writes_the_page_or_names_a_missing_folder(report_page, tmp_path, capsys):
    from analysis.__main__ import main
    root = report_page[0].parent
    assert main([str(root), "--table", "1", "--html", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().err == f"wrote {tmp_path / 'r.html'}\n"
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert main([str(root), "--html", str(tmp_path / "no" / "r.html")]) == 2
    assert capsys.readouterr().err == \
        f"error: {tmp_path / 'no'}: no such folder for the report r.html\n"


def test_grids_of_real_photos_are_a_fraction_of_their_lossless_size(small_streets, tmp_path):
    """Real toy-streets photos and labels, as the trainer writes them: the report's JPEG grid
    against the same pixels as an optimised PNG (what the report inlined before)."""
    from trainer.data import open_split
    reader = open_split("toy-streets", "val", small_streets)
    trials = []
    for seed in range(3):
        triplets = [(reader[i].a, reader[(i + seed) % len(reader)].b, reader[i].b)
                    for i in range(4)]
        write_samples(tmp_path / f"{seed}.png", triplets)
        trials.append((f"seed {seed}", str(tmp_path / f"{seed}.png")))
    grid = gallery.cell_grid(trials)
    lossless = io.BytesIO()
    Image.open(io.BytesIO(grid.image)).save(lossless, format="PNG", optimize=True)
    assert grid.mime == "image/jpeg" and len(grid.image) * 3 < len(lossless.getvalue())


def test_cells_are_named_in_words():
    from analysis.cell_words import cell_words
    table = SimpleNamespace(axes=("n_unpaired", "n_paired", "selector", "balanced"))
    cell = pd.Series({"n_unpaired": 40, "n_paired": 1, "selector": "kmedoids", "balanced": True})
    assert cell_words(table, cell) == "40 unpaired, 1 pair, k-medoids, balanced"
    alone = pd.Series({"n_unpaired": 40, "n_paired": "-", "selector": "-", "balanced": "-"})
    assert cell_words(table, alone) == "40 unpaired, no pairs"
    every = pd.Series({"n_unpaired": "-", "n_paired": 40, "selector": "-", "balanced": "-"})
    assert cell_words(table, every) == "40 pairs"


def test_a_many_seed_grid_is_scaled_to_the_page_width(tmp_path):
    photo, truth = _scene(0)
    trials = []
    for seed in range(10):
        write_samples(tmp_path / f"{seed}.png", [(photo, truth, truth)] * 2)
        trials.append((f"seed {seed}", str(tmp_path / f"{seed}.png")))
    grid = gallery.cell_grid([*trials, ("seed 10", None)])
    image = Image.open(io.BytesIO(grid.image))
    assert grid.width == image.width == gallery.MAX_WIDTH            # 12 panels of 256 px
    assert grid.columns[1:3] == ("seed 0", "seed 1") and len(grid.columns) == 12
    assert grid.note == "1 of 11 trials have no samples image to show"
