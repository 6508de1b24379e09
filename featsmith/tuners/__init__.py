"""Hyperparameter tuning: NNI search spaces, ask/tell tuners and the experiment loop.

Public objects
--------------
SearchSpace, parse_space
    NNI's JSON search-space format, parsed once and shared by every tuner (and NAS).
hp
    A small Python builder for the same dicts (``hp.loguniform(1e-3, 1)``).
Trial, Tuner, SpaceExhausted
    The ask/tell interface.
RandomTuner, GridTuner, AnnealTuner, EvolutionTuner, TPETuner, HyperbandTuner, BOHBTuner
    The tuners.
MedianStopAssessor, TrialPruned
    Early stopping of unpromising trials from their intermediate results.
Experiment, Reporter, StorageError
    The trial loop: budgets, parallel workers or a Dask cluster, failures, SQLite store, resume.
"""

from featsmith.tuners import hp
from featsmith.tuners._assessor import MedianStopAssessor, TrialPruned
from featsmith.tuners._base import SpaceExhausted, Trial, Tuner
from featsmith.tuners._evolution import AnnealTuner, EvolutionTuner
from featsmith.tuners._experiment import Experiment
from featsmith.tuners._hyperband import BOHBTuner, HyperbandTuner
from featsmith.tuners._random import GridTuner, RandomTuner
from featsmith.tuners._space import SearchSpace, parse_space
from featsmith.tuners._storage import StorageError
from featsmith.tuners._tpe import TPETuner
from featsmith.tuners._worker import Reporter

__all__ = [
    "SearchSpace",
    "parse_space",
    "hp",
    "Trial",
    "Tuner",
    "SpaceExhausted",
    "RandomTuner",
    "GridTuner",
    "AnnealTuner",
    "EvolutionTuner",
    "TPETuner",
    "HyperbandTuner",
    "BOHBTuner",
    "MedianStopAssessor",
    "TrialPruned",
    "Experiment",
    "Reporter",
    "StorageError",
]
