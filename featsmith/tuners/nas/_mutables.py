"""Retiarii-style model-space primitives.

A model space is an ordinary :class:`torch.nn.Module` subclass (derived from
:class:`ModelSpace`) whose ``__init__`` calls :class:`ValueChoice`, :class:`LayerChoice`,
:class:`InputChoice` and :class:`Repeat` where a decision is open. Every primitive resolves
*at construction time* against the active context:

* inside :meth:`ModelSpace.fixed` it returns the decision taken in the given architecture
  (a plain value, the chosen module, a :class:`ChosenInput` selector, a stack of blocks), so the
  result is a concrete, ordinary torch module with nothing mutable left in it;
* inside :meth:`ModelSpace.search_space` it records the decision (label, candidates, default,
  and the :class:`Repeat` depth it is conditional on) and returns the default, building every
  candidate and the deepest repeat so that nested decisions are discovered too.

This is the "fixed architecture" half of NNI Retiarii's design; the search never needs a graph
IR because our strategies only exchange architectures as plain dicts.
"""

from __future__ import annotations

import contextvars
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = [
    "Architecture",
    "ChosenInput",
    "InputChoice",
    "LayerChoice",
    "ModelSpace",
    "Repeat",
    "ArchitectureSpace",
    "ValueChoice",
]

_CONTEXT: contextvars.ContextVar["_Context | None"] = contextvars.ContextVar(
    "featsmith_nas_context", default=None
)


class Architecture(dict):
    """An immutable, hashable ``dict`` mapping decision labels to plain Python values.

    Two architectures are equal (and hash equal) when they take the same decisions, so a
    search can keep a set of the architectures it has trained and never train one twice.

    Examples
    --------
    >>> a = Architecture({"depth": 2, "width_0": 64})
    >>> a == {"width_0": 64, "depth": 2}, hash(a) == hash(Architecture(width_0=64, depth=2))
    (True, True)
    """

    __slots__ = ()

    def __hash__(self):
        return hash(tuple(sorted(self.items())))

    def _readonly(self, *args, **kwargs):
        raise TypeError("Architecture is immutable; build a new one with Architecture({**arch, key: value}).")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore

    def __reduce__(self):
        # The default dict-subclass pickling replays __setitem__, which is blocked above.
        return (Architecture, (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"Architecture({dict.__repr__(self)})"

    def to_json(self) -> str:
        """The architecture as a JSON object string with sorted keys."""
        return json.dumps(dict(self), sort_keys=True)


@dataclass(frozen=True)
class _Decision:
    label: str
    kind: str  # "value" | "layer" | "input" | "repeat"
    candidates: tuple
    default: Any
    # (repeat label, block index) pairs: the decision exists only when every repeat is deeper.
    conditions: tuple = ()


@dataclass
class _Context:
    mode: str  # "record" | "fixed"
    arch: dict | None = None
    decisions: dict = field(default_factory=dict)
    used: set = field(default_factory=set)
    repeat_stack: list = field(default_factory=list)

    def resolve(self, decision: _Decision):
        label = decision.label
        if self.mode == "record":
            known = self.decisions.get(label)
            if known is None:
                self.decisions[label] = _Decision(
                    label, decision.kind, decision.candidates, decision.default, tuple(self.repeat_stack)
                )
            elif known.candidates != decision.candidates or known.kind != decision.kind:
                raise ValueError(
                    f"label {label!r} is used twice with different candidates "
                    f"({list(known.candidates)} and {list(decision.candidates)}); labels shared "
                    "between primitives must offer the same choice, otherwise give them distinct labels."
                )
            return decision.default
        self.used.add(label)
        if label not in self.arch:
            raise ValueError(
                f"the architecture has no decision for label {label!r}; take it from "
                "ArchitectureSpace.default() or ArchitectureSpace.sample() of the same model space."
            )
        value = self.arch[label]
        if value not in decision.candidates:
            raise ValueError(
                f"architecture value {value!r} for label {label!r} is not one of its candidates "
                f"{list(decision.candidates)}."
            )
        return value


def _current() -> _Context | None:
    return _CONTEXT.get()


def _check_label(label, primitive):
    if not isinstance(label, str) or not label:
        raise TypeError(f"{primitive} needs a non-empty string label, got {label!r}; pass label='...'.")


def _resolve(kind: str, primitive: str, label: str, cands: tuple, default):
    """Check the candidates and default of a primitive and resolve it in the active context."""
    if not cands:
        raise ValueError(f"{primitive} {label!r} needs at least one candidate.")
    default = cands[0] if default is None else default
    if default not in cands:
        raise ValueError(f"{primitive} {label!r}: default {default!r} is not among {list(cands)}.")
    ctx = _current()
    return default if ctx is None else ctx.resolve(_Decision(label, kind, cands, default))


def _plain(value):
    """Convert numpy scalars to Python ones so architectures stay JSON-able and hashable."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class ValueChoice:
    """Choose one value among candidates; resolves to the plain value at construction.

    Parameters
    ----------
    candidates : sequence of hashable
        Plain values (numbers, strings, booleans).
    label : str
        Name of the decision in the architecture dict. Primitives sharing a label share
        the decision.
    default : hashable, optional
        The value used by the default architecture; the first candidate when omitted.

    Examples
    --------
    >>> from torch import nn
    >>> class Space(ModelSpace):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(4, ValueChoice([8, 16], label="width"))
    >>> Space.fixed({"width": 16}).fc.out_features
    16
    """

    def __new__(cls, candidates: Sequence, label: str, default=None):
        _check_label(label, "ValueChoice")
        cands = tuple(_plain(c) for c in candidates)
        try:
            hash(cands)
        except TypeError as exc:
            raise TypeError(f"ValueChoice {label!r} candidates must be hashable plain values.") from exc
        return _resolve("value", "ValueChoice", label, cands, None if default is None else _plain(default))


class LayerChoice:
    """Choose one module among candidates; resolves to the chosen module at construction.

    Parameters
    ----------
    candidates : dict of str -> module or callable, or list of them
        The candidate operations. Callables (for example ``nn.ReLU``) are called with no
        argument; only the chosen one is built in a fixed architecture, while every one is
        built when the space is recorded, so decisions nested in candidates are found.
        For a list the decision value is the index, for a dict the key.
    label : str
    default : str or int, optional

    Examples
    --------
    >>> from torch import nn
    >>> class Space(ModelSpace):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.act = LayerChoice({"relu": nn.ReLU, "gelu": nn.GELU}, label="act")
    >>> type(Space.fixed({"act": "gelu"}).act).__name__
    'GELU'
    """

    def __new__(cls, candidates, label: str, default=None):
        _check_label(label, "LayerChoice")
        if isinstance(candidates, dict):
            keys, ops = tuple(candidates), list(candidates.values())
        else:
            ops = list(candidates)
            keys = tuple(range(len(ops)))
        chosen = _resolve("layer", "LayerChoice", label, keys, default)
        ctx = _current()
        if ctx is not None and ctx.mode == "record":
            built = [_build(op) for op in ops]
            return built[keys.index(chosen)]
        return _build(ops[keys.index(chosen)])


def _build(op):
    if isinstance(op, nn.Module):
        return op
    if callable(op):
        module = op()
        if not isinstance(module, nn.Module):
            raise TypeError(f"a LayerChoice candidate factory returned {type(module).__name__}, not a torch module.")
        return module
    raise TypeError(f"LayerChoice candidates must be torch modules or callables, got {type(op).__name__}.")


class ChosenInput(nn.Module):
    """The fixed form of :class:`InputChoice`: picks one tensor from the list given to forward.

    ``index == -1`` means "no input" and returns ``None``.
    """

    def __init__(self, index: int):
        super().__init__()
        self.index = int(index)

    def forward(self, inputs: Sequence[torch.Tensor]):
        return None if self.index < 0 else inputs[self.index]

    def extra_repr(self):
        return f"index={self.index}"


class InputChoice:
    """Choose which earlier tensor to take as an input (for example a skip connection).

    Parameters
    ----------
    n_candidates : int
        Number of tensors the module will be given at forward time.
    label : str
    allow_none : bool, default=True
        Whether "no input" (decision value ``-1``) is a candidate.
    default : int, optional
        ``-1`` when ``allow_none``, otherwise ``0``.

    Returns
    -------
    ChosenInput
        A module whose forward takes the list of candidate tensors.

    Examples
    --------
    >>> import torch
    >>> class Space(ModelSpace):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.skip = InputChoice(2, label="skip")
    >>> Space.fixed({"skip": 1}).skip([torch.zeros(1), torch.ones(1)])
    tensor([1.])
    """

    def __new__(cls, n_candidates: int, label: str, allow_none: bool = True, default=None):
        _check_label(label, "InputChoice")
        if int(n_candidates) < 1:
            raise ValueError(f"InputChoice {label!r} needs n_candidates >= 1, got {n_candidates}.")
        cands = ((-1,) if allow_none else ()) + tuple(range(int(n_candidates)))
        return ChosenInput(_resolve("input", "InputChoice", label, cands, default))


class Repeat:
    """Stack a block a variable number of times; resolves to an ``nn.ModuleList``.

    Parameters
    ----------
    block : callable
        ``block(i)`` builds the ``i``-th block; decisions it makes are conditional on the
        depth being larger than ``i`` and are dropped from architectures that are shallower.
    depth : int pair (min, max) or sequence of int
    label : str
    default : int, optional
        The smallest depth when omitted.

    Examples
    --------
    >>> from torch import nn
    >>> class Space(ModelSpace):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.blocks = Repeat(lambda i: nn.Linear(4, 4), depth=(1, 3), label="depth")
    >>> len(Space.fixed({"depth": 3}).blocks)
    3
    """

    def __new__(cls, block: Callable[[int], nn.Module], depth, label: str, default=None):
        _check_label(label, "Repeat")
        if isinstance(depth, tuple) and len(depth) == 2:
            lo, hi = int(depth[0]), int(depth[1])
            cands = tuple(range(lo, hi + 1))
        else:
            cands = tuple(int(d) for d in depth)
        if cands and min(cands) < 0:
            raise ValueError(f"Repeat {label!r}: depth must be non-negative, got {depth!r}.")
        default = cands[0] if default is None and cands else default
        n = _resolve("repeat", "Repeat", label, cands, None if default is None else int(default))
        ctx = _current()
        if ctx is not None and ctx.mode == "record":
            n = max(cands)
        blocks = []
        for i in range(n):
            if ctx is not None:
                ctx.repeat_stack.append((label, i))
            try:
                blocks.append(block(i))
            finally:
                if ctx is not None:
                    ctx.repeat_stack.pop()
        if ctx is not None and ctx.mode == "record":
            blocks = blocks[:default]
        return nn.ModuleList(blocks)


class ArchitectureSpace:
    """The decisions of a model space: sample, mutate, canonicalise and export them.

    Obtained from :meth:`ModelSpace.search_space`; strategies only talk to this object.

    Examples
    --------
    >>> from torch import nn
    >>> class Space(ModelSpace):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.blocks = Repeat(
    ...             lambda i: nn.Linear(4, ValueChoice([4, 8], label=f"w{i}")), (1, 2), label="depth")
    >>> space = Space.search_space()
    >>> space.to_nni()["depth"]
    {'_type': 'choice', '_value': [1, 2]}
    >>> space.canonicalize({"depth": 1, "w0": 8, "w1": 4})
    Architecture({'depth': 1, 'w0': 8})
    """

    def __init__(self, decisions: dict[str, _Decision]):
        self.decisions = dict(decisions)

    @property
    def labels(self) -> list[str]:
        return list(self.decisions)

    def __len__(self):
        return len(self.decisions)

    def _active(self, label, arch) -> bool:
        return all(arch.get(rep, -1) > i for rep, i in self.decisions[label].conditions)

    def canonicalize(self, arch) -> Architecture:
        """Validate ``arch`` and drop the decisions that a shallower :class:`Repeat` makes unused.

        Missing active decisions are filled with their default, so partial dicts are fine.
        """
        if not isinstance(arch, dict):
            raise TypeError(f"an architecture must be a dict of label -> value, got {type(arch).__name__}.")
        unknown = sorted(set(arch) - set(self.decisions))
        if unknown:
            raise ValueError(f"architecture has unknown labels {unknown}; known labels: {self.labels}.")
        full = {}
        for label, d in self.decisions.items():
            value = _plain(arch.get(label, d.default))
            if value not in d.candidates:
                raise ValueError(
                    f"architecture value {value!r} for {label!r} is not one of {list(d.candidates)}."
                )
            full[label] = value
        return Architecture({k: v for k, v in full.items() if self._active(k, full)})

    def default(self) -> Architecture:
        """The architecture taking every decision's default."""
        return self.canonicalize({})

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random architecture."""
        return self.canonicalize(
            {label: d.candidates[rng.integers(len(d.candidates))] for label, d in self.decisions.items()}
        )

    def mutate(self, arch, rng: np.random.Generator, n_changes: int = 1) -> Architecture:
        """Change ``n_changes`` active decisions of ``arch`` to another candidate each."""
        base = dict(self.canonicalize(arch))
        # Fill inactive decisions too, so that deepening a Repeat has values to wake up.
        for label, d in self.decisions.items():
            base.setdefault(label, d.candidates[rng.integers(len(d.candidates))])
        active = [lab for lab in self.decisions if self._active(lab, base) and len(self.decisions[lab].candidates) > 1]
        if not active:
            return self.canonicalize(base)
        for label in rng.choice(active, size=min(n_changes, len(active)), replace=False):
            cands = [c for c in self.decisions[label].candidates if c != base[label]]
            base[label] = cands[rng.integers(len(cands))]
        return self.canonicalize(base)

    def size(self) -> int:
        """Number of distinct canonical architectures (an upper bound with Repeat)."""
        return math.prod(len(d.candidates) for d in self.decisions.values())

    def to_nni(self) -> dict:
        """The space in NNI's JSON search-space form (every decision is a ``choice``).

        Decisions conditional on a :class:`Repeat` are exported flat; tuners may propose
        them for shallow architectures and :meth:`canonicalize` drops them again.
        """
        return {
            label: {"_type": "choice", "_value": list(d.candidates)} for label, d in self.decisions.items()
        }


class ModelSpace(nn.Module):
    """Base class for a model space written with the mutation primitives.

    Subclass it like any torch module and call :class:`ValueChoice`, :class:`LayerChoice`,
    :class:`InputChoice` and :class:`Repeat` in ``__init__``. Constructing the class directly
    builds the default architecture.

    Examples
    --------
    >>> from torch import nn
    >>> class Space(ModelSpace):
    ...     def __init__(self, n_in):
    ...         super().__init__()
    ...         self.fc = nn.Linear(n_in, ValueChoice([8, 16], label="width"))
    >>> space = Space.search_space(3)
    >>> arch = space.sample(np.random.default_rng(0))
    >>> Space.fixed(arch, 3).fc.out_features in (8, 16)
    True
    """

    @classmethod
    def search_space(cls, *args, **kwargs) -> ArchitectureSpace:
        """Record every decision the space's ``__init__`` makes (called with these arguments)."""
        ctx = _Context("record")
        token = _CONTEXT.set(ctx)
        try:
            # The deepest variant is built once; its random init is thrown away, so keep the
            # caller's global RNG stream untouched.
            with torch.random.fork_rng(devices=[]):
                cls(*args, **kwargs)
        finally:
            _CONTEXT.reset(token)
        return ArchitectureSpace(ctx.decisions)

    @classmethod
    def fixed(cls, arch, *args, **kwargs) -> "ModelSpace":
        """Build the concrete module of architecture ``arch``.

        Raises ``ValueError`` when ``arch`` lacks a decision the construction needs or holds
        a value that is not a candidate.
        """
        if not isinstance(arch, dict):
            raise TypeError(f"arch must be a dict of label -> value, got {type(arch).__name__}.")
        ctx = _Context("fixed", arch=dict(arch))
        token = _CONTEXT.set(ctx)
        try:
            module = cls(*args, **kwargs)
        finally:
            _CONTEXT.reset(token)
        module.architecture_ = Architecture({k: _plain(arch[k]) for k in sorted(ctx.used)})
        return module
