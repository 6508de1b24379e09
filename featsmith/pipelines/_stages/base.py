"""What every stage of ``AutoPipeline.fit`` returns, and how it is timed."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace

logger = logging.getLogger("featsmith")


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """The common part of every stage's result.

    Attributes
    ----------
    stage : str
        The stage's name (``"prepare"``, ``"validate"``, ``"baseline"``, ``"features"``,
        ``"search"``, ``"ensemble"``, ``"threshold"``, ``"refit"``).
    seconds : float
        Wall-clock seconds the stage took.
    summary : str
        One line for the fit log and ``AutoPipeline.stages_``: what the stage decided and why.
    """

    stage: str = ""
    seconds: float = 0.0
    summary: str = ""


def stage(name: str):
    """Decorate a stage function: its result gets the stage's name and duration, and its
    summary goes to the fit log."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            result = replace(result, stage=name, seconds=time.perf_counter() - start)
            if result.summary:
                logger.info("%s: %s (%.1fs)", name, result.summary, result.seconds)
            return result

        return run

    return decorate
