"""A progress line for long fits: elapsed / budget, trials and the best score so far."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class SearchProgress:
    """Shown only when ``verbose`` and stderr is a terminal (see ``AutoPipeline._progress``)."""

    def __init__(self, budget: float, estimator):
        self.budget = budget
        self._progress = Progress(
            TextColumn("[bold]featsmith[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}s"),
            TimeElapsedColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        self._progress.start()
        self._task = self._progress.add_task("tuning", total=budget)

    def update(self, elapsed: float, n_trials: int, best_value: float):
        self._progress.update(
            self._task, completed=min(elapsed, self.budget),
            description=f"tuning: {n_trials} trials, best {best_value:.5g}",
        )

    def close(self):
        self._progress.stop()
