"""featsmith.tuners.nas: a searched neural-network head for tabular data.

Retiarii-style model-space primitives (:class:`ValueChoice`, :class:`LayerChoice`,
:class:`InputChoice`, :class:`Repeat`) describe a space as an ordinary torch module
(:class:`ModelSpace`); :class:`TabularHeadSpace` is the space of MLP heads for tables.
Strategies (random, regularised evolution, TPE through :mod:`featsmith.tuners`, one-shot
weight sharing, and Cream: one-shot with a board of the best paths teaching the sampled ones)
search it, and candidates are trained together in one batched module
(:class:`BatchedHead`, :func:`train_candidates`). :class:`NASHeadClassifier` and
:class:`NASHeadRegressor` wrap the whole search as scikit-learn estimators.
"""

from featsmith.tuners.nas._batched import BatchedAdamW, BatchedHead
from featsmith.tuners.nas._cream import CreamStrategy
from featsmith.tuners.nas._data import TabularPreprocessor
from featsmith.tuners.nas._estimator import NASHeadClassifier, NASHeadRegressor
from featsmith.tuners.nas._mutables import (
    Architecture,
    ChosenInput,
    InputChoice,
    LayerChoice,
    ModelSpace,
    Repeat,
    ArchitectureSpace,
    ValueChoice,
)
from featsmith.tuners.nas._oneshot import OneShotStrategy
from featsmith.tuners.nas._search import SearchResult, run_multi_trial
from featsmith.tuners.nas._space import TabularHeadSpace
from featsmith.tuners.nas._strategies import RandomStrategy, RegularizedEvolution, Strategy, TPEStrategy
from featsmith.tuners.nas._train import TrainedCandidate, TrainingData, train_candidates

__all__ = [
    "Architecture",
    "BatchedAdamW",
    "BatchedHead",
    "ChosenInput",
    "CreamStrategy",
    "InputChoice",
    "LayerChoice",
    "ModelSpace",
    "NASHeadClassifier",
    "NASHeadRegressor",
    "OneShotStrategy",
    "RandomStrategy",
    "RegularizedEvolution",
    "Repeat",
    "SearchResult",
    "ArchitectureSpace",
    "Strategy",
    "TabularHeadSpace",
    "TabularPreprocessor",
    "TPEStrategy",
    "TrainedCandidate",
    "TrainingData",
    "ValueChoice",
    "run_multi_trial",
    "train_candidates",
]
