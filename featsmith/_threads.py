"""How many threads a boosting fit (LightGBM, HistGradientBoosting) gets: one for small data, more
as the data grows."""

from __future__ import annotations

import os

__all__ = ["CELLS_PER_THREAD", "fit_threads"]

# LightGBM's parallel regions follow each other microseconds apart on small data, and with
# OMP_WAIT_POLICY=PASSIVE (set by featsmith: idle threads must not spin on a shared machine's
# cores) every region wakes the sleeping threads, which costs more than the work they share.
# Measured on the 2-core dev machine by benchmarks/threads.py (BENCHMARKS.md, "Threads"), 100
# rounds of a binary LightGBM on 50 columns: two threads took 0.96 s against one thread's 0.46 s
# at 5,000 rows and 1.35 s against 1.07 s at 50,000, and won at 300,000 (4.42 s against 5.37 s);
# AutoPipeline(time_budget=30) completed 23 trials instead of 8 on credit_data. Beside a busy
# process one thread won at every size (one-off). scikit-learn's HistGradientBoosting (OpenMP
# too) took 2.51 s against 0.58 s at 5,000 rows (one-off).
CELLS_PER_THREAD = 2_500_000


def fit_threads(n_threads: int, n_rows: int, n_columns: int) -> int:
    """Threads for a boosting fit on ``n_rows`` x ``n_columns``: at most ``n_threads`` (0 or
    less: every core), one per ``CELLS_PER_THREAD`` cells, at least one.

    Examples
    --------
    >>> fit_threads(2, 5_000, 50)
    1
    >>> fit_threads(2, 1_000_000, 50)
    2
    >>> fit_threads(1, 1_000_000, 50)
    1
    """
    cores = int(n_threads) if n_threads and n_threads > 0 else (os.cpu_count() or 1)
    return int(max(1, min(cores, (int(n_rows) * int(n_columns)) // CELLS_PER_THREAD)))
