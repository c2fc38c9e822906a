"""store.publish: the first writer's file wins, a stale file can be replaced, and a failed write
leaves neither a final file nor a temporary one."""
from __future__ import annotations

import pytest

from trainer.selection.store import publish


def test_first_writer_wins_unless_replacing(tmp_path):
    path = tmp_path / "sub" / "entry.json"
    publish(path, lambda f: f.write(b"first"))
    publish(path, lambda f: f.write(b"second"))              # a racer that finished later
    assert path.read_bytes() == b"first"
    publish(path, lambda f: f.write(b"fresh"), replace=True)  # a stale entry is overwritten
    assert path.read_bytes() == b"fresh"
    assert [p.name for p in path.parent.iterdir()] == ["entry.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path / "entry.json", broken)
    assert list(tmp_path.iterdir()) == []
