"""The driver's own selection manifests (a local Ray: sweeps.tune.launch.manifests_while): each
distinct selection computed once, in a thread, and published where trials read it; bad input
raised in the driver's thread as one GridError line naming the trial."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from sweeps.plan import grids
from sweeps.plan.grids import GridError
from sweeps.tune import launch
from trainer.selection import manifest_for


def test_the_manifests_are_computed_once_each_in_a_thread_and_published(small_streets,
                                                                        monkeypatch, tmp_path):
    monkeypatch.setenv("FEWPAIR_CACHE", str(tmp_path))   # no manifest from another test
    cfgs = [dataclasses.replace(c, data_root=small_streets)
            for c in grids.expand(grids.get_grid("smoke"))]
    computed = []   # (trial key, thread) of each manifest computed
    import trainer.selection as selection
    real = selection.manifest_for
    monkeypatch.setattr(selection, "manifest_for", lambda cfg: computed.append(
        (cfg.key(), threading.current_thread().name)) or real(cfg))
    launch.manifests_while(cfgs + cfgs)()   # each config twice: still one manifest per request
    assert len(computed) == len({launch._request_key(c) for c in cfgs}) == 3
    assert {thread for _, thread in computed} == {"selection-manifests"}
    published = sorted((tmp_path / "manifests" / "toy-streets").glob("*.json"))
    assert len(published) == 3
    written = {path: path.stat().st_mtime_ns for path in published}
    for cfg in cfgs:   # the trial's own lookup reads one of them, as it is
        manifest = manifest_for(cfg)
        assert Path(manifest.path) in published
        assert len(manifest.paired) == cfg.paired_budget
        assert len(manifest.unpaired) == cfg.unpaired
    assert {path: path.stat().st_mtime_ns for path in published} == written


def test_a_selection_error_is_one_line_naming_the_trial(tmp_path):
    cfg = dataclasses.replace(grids.expand(grids.get_grid("smoke"))[0], dataset="cityscapes",
                              data_root=str(tmp_path / "missing"))
    wait = launch.manifests_while([cfg])
    with pytest.raises(GridError) as raised:
        wait()
    text = str(raised.value)
    assert text.startswith(f"selection for trial {cfg.key()} (budget {cfg.paired_budget}, ")
    assert f"dataset root {tmp_path / 'missing'} does not exist" in text and "\n" not in text
