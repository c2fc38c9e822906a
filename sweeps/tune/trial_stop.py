"""How a trial (sweeps.tune.trainable) or a pack (sweeps.tune.pack_trial) ends once a signal
made it checkpoint and write its `stopped` row: it depends on who sent the signal.

- Its sweep's driver, stopping (Ctrl-C or SIGTERM on the driver: sweeps.tune.driver_stop), sends
  DRIVER_STOP. Tune then ends its loop with the trial still RUNNING and its signal checkpoint
  registered, so that `--resume` continues it. By then Tune has already asked the trial actor
  for its next result (`train()`), and no one will read the answer: an exception there is an
  error object the driver frees unread, which Ray prints at exit as an "Unhandled error" block
  with the trial's traceback (ray._private.worker.raise_errors); a plain return says `done`,
  and a driver still in its loop (a second trial's checkpoint not registered yet) would mark the
  trial TERMINATED, so `--resume` would not train it again. The trial *parks* instead: it
  repeats its stop report until Tune ends the actor, whose stop makes that report raise
  SystemExit(0), the quiet end of Tune's trial thread. A driver still in its loop just sees
  the same report again, every PARK_S.
- Anything else (a spot node's SIGTERM): the trial raises Interrupted for Tune's FailureConfig
  to retry it from that checkpoint.
- Tune ended the actor while the trial reported its checkpoint (Interrupted from SystemExit):
  the trial ends quietly, as Tune asked.
"""
from __future__ import annotations

import math
import signal
import time
from typing import NoReturn

from trainer.core.config import VAL_SCORE
from trainer.run.interrupt import SIGNALS, Interrupted

DRIVER_STOP = signal.SIGUSR2   # the driver's "checkpoint and wait to be ended" (SIGTERM: the
                               # node's end, SIGINT: blocked in Ray's worker processes)
TRIAL_SIGNALS = (*SIGNALS, DRIVER_STOP)   # what a trial actor turns into a stop request
PARK_S = 1.0   # between a parked trial's repeated reports (a driver in its loop answers each)
PARKED = "parked"   # in the result a parked trial repeats


def end_stopped(err: BaseException) -> NoReturn:
    """After the trial wrote its `stopped` row for `err`: park, end quietly, or raise `err`
    (module doc)."""
    if isinstance(err, Interrupted) and isinstance(err.__cause__, SystemExit):
        raise SystemExit(0)
    if isinstance(err, Interrupted) and err.signum == DRIVER_STOP:
        park(err.step)
    raise err


def park(step: int) -> NoReturn:
    """Repeat the stop report until Tune ends the actor (tune.report raises SystemExit(0)).
    The report has what Tune's checks ask of every result: the step (ASHA's time attribute) and
    val_score (a study's metric; NaN: no validation pass, as in the signal's own report)."""
    from ray import tune
    from ray.tune.result import TIMESTEPS_TOTAL
    result = {"step": step, TIMESTEPS_TOTAL: step, VAL_SCORE: math.nan, "interrupted": 1,
              PARKED: 1}
    tune.report(result)
    while True:
        time.sleep(PARK_S)
        tune.report(result)
