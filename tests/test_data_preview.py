"""The preview CLI: rows per archetype, most frequent first; the picture is written atomically."""
from __future__ import annotations

from PIL import Image

from trainer.data import toy_root
from trainer.data.preview import main, pick


def test_pick_groups_by_archetype_most_frequent_first():
    names = ["b", "a", "b", "c", "b", "a"]
    assert pick(names, 2) == {"b": [0, 2], "a": [1, 5], "c": [3]}
    assert pick([None, None, None], 2) == {"all": [0, 1]}


def test_preview_writes_one_row_per_archetype(tmp_path, capsys):
    out = tmp_path / "preview.png"
    root = toy_root("toy-streets", "small")
    assert main(["--root", str(root), "--split", "train", "--per-row", "2", "--out", str(out)]) == 0
    assert "40 samples in toy-streets/train" in capsys.readouterr().out
    image = Image.open(out)
    # figure: 1.6 in per column x 4 columns, 0.9 in per row x 5 archetypes + 0.4 in; 110 dpi
    assert image.size == (round(1.6 * 4 * 110), round((0.9 * 5 + 0.4) * 110))
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]  # no temporary left behind
