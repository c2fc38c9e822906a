"""Writing a trial's results row: the one path every caller takes -- a grid trial
(sweeps.tune.trainable), a pack member (sweeps.tune.pack_trial) and a study trial stopped by its
scheduler (sweeps.study.study_run) -- so their rows have the same columns and types
(sweeps.store.schema) and the same provenance (`computed_with`).

    sink = RowSink(results_root, grid, code_version, computed)
    sink.write(cfg, "ok", started_at, result=trial_result.to_row())
    sink.write_failure(cfg, err, started_at)      # failed (an Exception) or stopped (the rest)
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import traceback
from dataclasses import dataclass, field

from sweeps.store import results
from trainer.core.config import TrialConfig

COMPUTED_WITH = ("pack_id", "pack_size", "torch_threads", "torch_version")


def computed_with(pack_id: str | None = None, pack_size: int = 1) -> dict[str, object]:
    """How this process computes a trial, beside the row's device and precision: what must be
    equal for a rerun to repeat it bit for bit (a pack's members say their pack)."""
    import torch
    return {"pack_id": pack_id, "pack_size": pack_size, "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__}


@dataclass(frozen=True)
class RowSink:
    """Where one sweep's rows go and what every row of a worker says about how it was run."""
    results_root: str
    grid: str
    code_version: str
    computed: dict[str, object] = field(default_factory=dict)   # computed_with()'s columns

    def with_computed(self, **computed: object) -> "RowSink":
        return dataclasses.replace(self, computed={**self.computed, **computed})

    def path(self, cfg: TrialConfig) -> str:
        return results.row_path(self.results_root, self.grid, cfg)

    def write(self, cfg: TrialConfig, status: str, started_at: dt.datetime, *,
              result: dict | None = None, error: str | None = None) -> str:
        """Build the row (config, the sweep's columns, `result`, computed-with) and publish it
        whole at the trial's row path; the path."""
        row = results.make_row(cfg, self.grid, status, result={**self.computed, **(result or {})},
                               error=error, code_version=self.code_version,
                               started_at=started_at, finished_at=results.utc_now())
        return results.write_row(self.path(cfg), row)

    def write_failure(self, cfg: TrialConfig, err: BaseException, started_at: dt.datetime,
                      *, result: dict | None = None) -> str:
        """The row of a trial that raised `err`: `failed` for an Exception, `stopped` for a
        KeyboardInterrupt / SystemExit (a stop); `error` is one_line(err). The status."""
        status = "failed" if isinstance(err, Exception) else "stopped"
        self.write(cfg, status, started_at, result=result, error=one_line(err))
        return status

    def keep_samples(self, png: str | None, cfg: TrialConfig) -> str | None:
        """Copy a trial's sample image out of its temporary workdir, next to the rows."""
        if not png or not os.path.isfile(png):
            return None
        return results.copy_file(png, results.samples_path(self.results_root, self.grid, cfg))


def one_line(err: BaseException) -> str:
    """`Type: message` plus where it was raised, on one line (the row's `error` column)."""
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({os.path.basename(frame.filename)}:{frame.lineno})" if frame else ""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}{': ' + message if message else ''}{where}"
