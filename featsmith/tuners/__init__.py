"""Hyperparameter tuning: NNI search spaces, ask/tell tuners and the experiment loop.

Public objects
--------------
SearchSpace, parse_space, flatten_params
    NNI's JSON search-space format, parsed once and shared by every tuner (and NAS); a
    configuration as one flat dict for tables.
hp
    A small Python builder for the same dicts (``hp.loguniform(1e-3, 1)``).
Trial, Tuner, SpaceExhausted
    The ask/tell interface.
RandomTuner, GridTuner, AnnealTuner, EvolutionTuner, TPETuner, HyperbandTuner, BOHBTuner
    The tuners.
MedianStopAssessor, TrialPruned
    Early stopping of unpromising trials from their intermediate results.
Experiment, Reporter
    The trial loop, steppable (``ask`` / ``tell`` / ``stop``) or run whole (``run``): budgets,
    parallel workers or a Dask cluster, failures, skipped and pruned trials, resume.
TrialStore, StorageError
    The SQLite store of experiments and their trials, and its read API
    (``list_experiments``, ``read_trials``) for reports and dashboards.
"""

import importlib

# Public name -> private module. Imported on first use (PEP 562) so that a trial worker process,
# which only needs ``_worker``, starts without loading scipy and pandas.
_EXPORTS = {
    "SearchSpace": "_space",
    "parse_space": "_space",
    "flatten_params": "_space",
    "Trial": "_base",
    "Tuner": "_base",
    "SpaceExhausted": "_base",
    "RandomTuner": "_random",
    "GridTuner": "_random",
    "AnnealTuner": "_evolution",
    "EvolutionTuner": "_evolution",
    "TPETuner": "_tpe",
    "HyperbandTuner": "_hyperband",
    "BOHBTuner": "_hyperband",
    "MedianStopAssessor": "_assessor",
    "TrialPruned": "_assessor",
    "Experiment": "_experiment",
    "Reporter": "_worker",
    "StorageError": "_storage",
    "TrialStore": "_storage",
}

__all__ = ["hp", *_EXPORTS]


def __getattr__(name):
    if name == "hp":
        return importlib.import_module("featsmith.tuners.hp")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"featsmith.tuners.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'featsmith.tuners' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
