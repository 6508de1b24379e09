"""How many threads a boosting fit (LightGBM, HistGradientBoosting) gets: one for small data, more
as the data grows."""

from __future__ import annotations

import os

__all__ = ["CELLS_PER_THREAD", "fit_threads"]

# LightGBM's parallel regions follow each other microseconds apart on small data, and with
# OMP_WAIT_POLICY=PASSIVE (set by featsmith: idle threads must not spin on a shared machine's
# cores) every region wakes the sleeping threads, which costs more than the work they share.
# Measured on the 2-core dev machine, 100 rounds of a binary LightGBM on 50 columns: two threads
# took 0.97 s against one thread's 0.54 s at 5,000 rows, broke even at 50,000 and won from
# there (5.6 s against 7.3 s at 300,000); beside a busy process one thread won at every size.
# AutoPipeline's trials on credit_data (6,680 rows) ran 3x as many in 30 s on one thread.
# scikit-learn's HistGradientBoosting (OpenMP too) took 2.51 s against 0.58 s at 5,000 rows.
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
