"""Multi-trial search strategies: propose architectures, learn from their validation losses.

A strategy sees only the :class:`~featsmith.tuners.nas.ArchitectureSpace` and the losses it is told;
it knows nothing about torch. The search loop asks for several architectures at a time so
that they can be trained together.
"""

from __future__ import annotations

import abc
from collections import Counter, deque

import numpy as np

from featsmith.tuners.nas._mutables import Architecture, ArchitectureSpace

__all__ = ["Strategy", "RandomStrategy", "RegularizedEvolution", "TPEStrategy"]


class Strategy(abc.ABC):
    """Base class of multi-trial strategies (lower values are better).

    Subclasses implement :meth:`ask` and :meth:`tell`; :meth:`setup` is called once before
    the first :meth:`ask` with the space and the search's random generator.
    """

    def setup(self, space: ArchitectureSpace, rng: np.random.Generator) -> None:
        """Bind the strategy to a search space and a random generator."""
        self.space_ = space
        self.rng_ = rng

    @abc.abstractmethod
    def ask(self, n: int) -> list[Architecture]:
        """Propose ``n`` architectures (duplicates are allowed; the search skips them)."""

    @abc.abstractmethod
    def tell(self, arch: Architecture, value: float) -> None:
        """Report the validation loss of an architecture (possibly one it did not propose)."""


class RandomStrategy(Strategy):
    """Uniform random sampling of the space.

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> s = RandomStrategy()
    >>> s.setup(TabularHeadSpace.search_space(4, [], 1), np.random.default_rng(0))
    >>> len(s.ask(3))
    3
    """

    def ask(self, n):
        return [self.space_.sample(self.rng_) for _ in range(n)]

    def tell(self, arch, value):
        pass


class RegularizedEvolution(Strategy):
    """Regularised (aging) evolution, Real et al. 2019.

    The first ``population_size`` architectures are random. Afterwards each child is a
    mutation of the best of ``sample_size`` members drawn from the population, and the
    population keeps only the ``population_size`` most recent members, so an early lucky
    architecture cannot dominate forever.

    Parameters
    ----------
    population_size : int, default=16
    sample_size : int, default=4
        Tournament size.
    n_mutations : int, default=1
        Decisions changed per child.

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> s = RegularizedEvolution(population_size=2, sample_size=2)
    >>> s.setup(TabularHeadSpace.search_space(4, [], 1), np.random.default_rng(0))
    >>> for a in s.ask(2):
    ...     s.tell(a, 1.0)
    >>> len(s.ask(4))
    4
    """

    def __init__(self, population_size: int = 16, sample_size: int = 4, n_mutations: int = 1):
        if population_size < 1 or sample_size < 1 or n_mutations < 1:
            raise ValueError(
                "population_size, sample_size and n_mutations must be >= 1, got "
                f"{population_size}, {sample_size}, {n_mutations}."
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.n_mutations = n_mutations

    def setup(self, space, rng):
        super().setup(space, rng)
        self.population_ = deque(maxlen=self.population_size)
        self._pending = Counter()

    def ask(self, n):
        out = []
        for _ in range(n):
            pending = sum(self._pending.values()) + len(out)
            if len(self.population_) + pending < self.population_size or not self.population_:
                out.append(self.space_.sample(self.rng_))
            else:
                members = list(self.population_)
                idx = self.rng_.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
                parent = min((members[i] for i in idx), key=lambda m: m[1])[0]
                out.append(self.space_.mutate(parent, self.rng_, self.n_mutations))
        self._pending.update(out)
        return out

    def tell(self, arch, value):
        if self._pending[arch] > 0:
            self._pending[arch] -= 1
        self.population_.append((arch, float(value) if np.isfinite(value) else np.inf))


class TPEStrategy(Strategy):
    """Tree-structured Parzen estimator through :class:`featsmith.tuners.TPETuner`.

    The space is handed to the tuner in NNI's JSON form (:meth:`ArchitectureSpace.to_nni`).
    Architectures the tuner did not propose are not told.

    Parameters
    ----------
    **tuner_kwargs
        Extra keyword arguments for ``TPETuner``.

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> s = TPEStrategy()
    >>> s.setup(TabularHeadSpace.search_space(4, [], 1), np.random.default_rng(0))
    >>> a = s.ask(1)[0]; s.tell(a, 0.5)
    """

    def __init__(self, **tuner_kwargs):
        self.tuner_kwargs = tuner_kwargs

    def setup(self, space, rng):
        super().setup(space, rng)
        try:
            from featsmith.tuners import TPETuner
        except ImportError as exc:  # pragma: no cover - depends on the tuners package state
            raise ImportError(
                "strategy='tpe' needs featsmith.tuners.TPETuner, which this installation lacks; "
                "use strategy='evolution' or 'random' instead."
            ) from exc
        seed = int(rng.integers(2**31 - 1))
        self.tuner_ = TPETuner(space.to_nni(), mode="min", random_state=seed, **self.tuner_kwargs)
        # The search evaluates the default architecture first; proposing it first too lets the
        # tuner learn its value (the search trains it once and reports it for both).
        self.tuner_.enqueue(self._complete(space.default()))
        self._pending: dict[Architecture, list] = {}

    def ask(self, n):
        out = []
        for _ in range(n):
            trial = self.tuner_.ask()
            arch = self.space_.canonicalize(dict(trial.params))
            self._pending.setdefault(arch, []).append(trial)
            out.append(arch)
        return out

    def tell(self, arch, value):
        trials = self._pending.get(arch)
        if not trials:
            return
        trial = trials.pop(0)
        if not trials:
            del self._pending[arch]
        self.tuner_.tell(trial, float(value))  # inf (a diverged candidate) counts as failed

    def _complete(self, arch):
        # NNI spaces are flat: give decisions that a shallow Repeat leaves unused their default.
        return {label: arch.get(label, d.default) for label, d in self.space_.decisions.items()}
