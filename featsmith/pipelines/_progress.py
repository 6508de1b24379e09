"""A progress line for long fits: the stage or the search's state, and elapsed / budget."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class SearchProgress:
    """Drawn only when ``verbose`` and stderr is a terminal (see
    :class:`featsmith.pipelines._context.Progress`)."""

    def __init__(self, budget: float):
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
        self._task = self._progress.add_task("preparing", total=budget)

    def update(self, elapsed: float, description: str):
        self._progress.update(self._task, completed=min(elapsed, self.budget), description=description)

    def close(self):
        self._progress.stop()
