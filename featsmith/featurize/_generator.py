"""FeatureGenerator: enumerate and fit candidate features; hand them out lazily in chunks."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from featsmith._frame import frame_kind
from featsmith._task import check_task, infer_task
from featsmith._validation import check_frame, check_n_features, check_target
from featsmith.featurize._columns import NULL_TOKEN, ColumnCoder, take_rows
from featsmith.featurize._enumerate import enumerate_specs
from featsmith.featurize._features import Evaluator, Feature
from featsmith.featurize._ops import (
    OPS,
    combine_card,
    group_rank_sketch,
    group_stat_tables,
    oof_target_tables,
    value_ranks,
    target_stats,
)
from featsmith.featurize._plan import FeaturePlan
from featsmith.featurize._relational import RelationalSynth, cutoff_values, order_values, resolve_tables

logger = logging.getLogger("featsmith")


class GeneratedCandidates:
    """The fitted candidates of a :class:`FeatureGenerator`, evaluated lazily on its training rows.

    Satisfies :class:`featsmith._types.CandidateSource`. Target encodings are read out of fold
    here (each row encoded by statistics that never saw it), so a screen that scores candidates
    on these values sees no leakage.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8.0) % 3})
    >>> src = FeatureGenerator(max_candidates=5).fit(X).candidate_source()
    >>> src.evaluate(src.names[:2], rows=np.array([0, 1])).shape
    (2, 2)
    """

    def __init__(self, generator):
        self._gen = generator
        self.names = list(generator.candidate_names_)
        self.n_rows = generator.n_train_rows_

    def evaluate(self, names, rows=None):
        g = self._gen
        unknown = [n for n in names if n not in g.features_]
        if unknown:
            raise KeyError(f"Unknown candidate name(s) {unknown[:5]}; use names from .names.")
        rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        base = take_rows(g._train_base, rows)
        folds = g._folds if rows is None else g._folds[rows]
        return Evaluator(g.features_, base, g._oof, folds).block(list(names))


class FeatureGenerator(TransformerMixin, BaseEstimator):
    """Generate candidate features for a table (and its related tables) as fitted expressions.

    ``fit`` types the columns, enumerates first-order candidates (unary transforms, numeric
    crosses, frequency and out-of-fold target encodings, group-by statistics, datetime parts,
    missing indicators, text statistics) and second-order ones (statistics grouped by pairs of
    categories), keeps at most ``max_candidates`` of them in a deterministic order and fits
    their lookup tables on the training rows. With ``tables`` and ``relationships`` it first
    runs deep feature synthesis (see :class:`RelationalSynth`) and treats the relational
    columns like raw ones.

    Categories never seen in training are encoded as *unknown*: frequency 0, the target prior
    for target encodings and missing for group statistics.

    Parameters
    ----------
    max_candidates : int, default=2000
    operators : list of str, optional
        Operator keys (``"log1p"``, ``"gb_mean"``, ``"te"``...) or families (``"unary"``,
        ``"cross"``, ``"categorical"``, ``"target"``, ``"groupby"``, ``"datetime"``,
        ``"missing"``, ``"text"``); ``None`` uses all.
    max_order : int, default=2
        2 adds statistics grouped by pairs of categorical columns.
    n_folds : int, default=5
        Folds of the out-of-fold target encoding.
    smoothing : float, default=20.0
        Prior weight (in rows) of the smoothed target encoding.
    task : {"auto", "classification", "binary", "multiclass", "regression"}, default="auto"
        What the target encodings encode (one column per class for multiclass); ``"auto"``
        infers it from ``y`` by the rule of :func:`featsmith.pipelines.infer_task`.
    chunk_size : int, default=256
        Columns per block in :meth:`iter_chunks` and :meth:`transform`.
    random_state : int or numpy.random.Generator, optional
        Seeds the target-encoding folds.
    target_table : str, optional
        Name of X's table in ``relationships``; inferred as the one table named there but
        missing from ``tables``.
    agg_primitives : list of str, optional
        Relational aggregations (default: count, sum, mean, std, min, max, nunique, mode,
        first, last, time_since_last).
    max_depth : int, default=2
        Relational depth (featuretools' meaning).
    include_cutoff_time : bool, default=False
        Whether child rows stamped exactly at a row's cutoff count (featuretools' default is
        True; the strict ``<`` avoids same-instant leakage).

    Attributes
    ----------
    candidate_names_ : list of str
    features_ : dict of name -> Feature
        Candidates, raw columns and hidden inputs, with their fitted state.
    coder_ : ColumnCoder
    relational_ : RelationalSynth or None

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=50), "city": rng.choice(["a", "b"], 50)})
    >>> gen = FeatureGenerator(max_candidates=20, random_state=0).fit(X, X["x"] * 2)
    >>> "mean(x) by city" in gen.get_feature_names_out()
    True
    >>> gen.transform(X).shape == (50, len(gen.get_feature_names_out()))
    True
    """

    def __init__(
        self,
        max_candidates=2000,
        operators=None,
        max_order=2,
        n_folds=5,
        smoothing=20.0,
        task="auto",
        chunk_size=256,
        random_state=None,
        target_table=None,
        agg_primitives=None,
        max_depth=2,
        include_cutoff_time=False,
    ):
        self.max_candidates = max_candidates
        self.operators = operators
        self.max_order = max_order
        self.n_folds = n_folds
        self.smoothing = smoothing
        self.task = task
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.target_table = target_table
        self.agg_primitives = agg_primitives
        self.max_depth = max_depth
        self.include_cutoff_time = include_cutoff_time

    # ------------------------------------------------------------------ validation
    def _validate_params(self):
        if not isinstance(self.max_candidates, (int, np.integer)) or self.max_candidates < 1:
            raise ValueError(f"max_candidates must be a positive int, got {self.max_candidates!r}.")
        if self.max_order not in (1, 2):
            raise ValueError(f"max_order must be 1 or 2, got {self.max_order!r}.")
        if not isinstance(self.n_folds, (int, np.integer)) or self.n_folds < 2:
            raise ValueError(f"n_folds must be an int >= 2, got {self.n_folds!r}.")
        if not np.isscalar(self.smoothing) or self.smoothing < 0:
            raise ValueError(f"smoothing must be a number >= 0, got {self.smoothing!r}.")
        check_task(self.task)
        if not isinstance(self.chunk_size, (int, np.integer)) or self.chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {self.chunk_size!r}.")
        if self.operators is not None:
            families = {op.family for op in OPS.values()}
            bad = [o for o in self.operators if o not in OPS and o not in families]
            if bad:
                raise ValueError(
                    f"Unknown operators {bad}; use operator keys {sorted(OPS)} or families {sorted(families)}."
                )

    def _encode_target(self, y, n):
        """``(task, target columns, class labels)``: one column for regression and binary
        (the positive class), one per class for multiclass."""
        y = check_target(y, n, estimator_name="FeatureGenerator")
        task = infer_task(y, self.task)
        if task == "regression":
            return task, y.astype(np.float64)[:, None], [None]
        classes = np.unique(y)
        self.classes_ = classes
        onehot = (y[:, None] == classes[None, :]).astype(np.float64)
        if task == "binary":
            return task, onehot[:, 1:], [None]
        return task, onehot, [c.item() if hasattr(c, "item") else c for c in classes]

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, tables=None, relationships=None, cutoff_time=None, time_index=None, groups=None,
            time_order=None):
        """Enumerate candidates and fit their statistics on the training rows.

        Parameters
        ----------
        X : DataFrame (pandas, polars, pyarrow) or 2-D array
            Training rows of the target table.
        y : array-like, optional
            Target; without it no target encodings are generated.
        tables : dict of name -> frame, or a featuretools EntitySet, optional
        relationships : list of ("child.fk", "parent.pk"), optional
            Several pairs may join the same two tables (``("flights.origin",
            "airports.faa")`` and ``("flights.dest", "airports.faa")``): each key is its own
            path, with its own features (``airports[origin].alt``, ``airports[dest].alt``).
        cutoff_time : str or array-like, optional
            A column of X, or one timestamp per row: child rows count only when their time
            index is before it.
        time_index : dict of table -> column, optional
        groups : array-like, optional
            A group label per row (an incident, a customer): target-encoding folds then keep
            each group whole, so rows of one group never encode each other.
        time_order : array-like, optional
            A sortable value per row (a timestamp): target-encoding folds are then consecutive
            periods, and each row is encoded with the targets of earlier periods only (the
            first period's encodings are missing), as when the model predicts later rows.
            Relational aggregations over X's own rows (``planes.MEAN(flights.distance)``)
            then read only the rows of earlier periods when there is no cutoff: never a row
            of their own period, as at predict a new row reads the training rows and never
            the other new rows, so a validated period holds the values predict will give.
            Not with ``groups``.
        """
        self._validate_params()
        self._fit_frame(X, y, tables, relationships, cutoff_time, time_index, groups, time_order)
        return self

    def _fit_frame(self, X, y, tables, relationships, cutoff_time, time_index, groups=None, time_order=None):
        df = check_frame(X, estimator_name="FeatureGenerator")
        if df.height < 2:
            raise ValueError(
                f"X has n_samples = {df.height} (shape={df.shape}); FeatureGenerator needs at least 2 rows to fit statistics."
            )
        self.input_is_array_ = frame_kind(X) == "numpy"
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = df.width
        n = df.height
        overrides = {}
        self.relational_ = None
        self.cutoff_column_ = cutoff_time if isinstance(cutoff_time, str) else None
        if groups is not None and time_order is not None:
            raise ValueError("pass groups or time_order, not both: the target-encoding folds follow one of them.")
        periods = _time_folds(n, self.n_folds, time_order) if time_order is not None else None
        if tables is not None or relationships is not None:
            tables, relationships, time_index, target = resolve_tables(
                tables, relationships, time_index, self.target_table, df
            )
            cutoff = cutoff_values(df, cutoff_time)
            self.relational_ = RelationalSynth(
                target, relationships, time_index, self.agg_primitives, self.max_depth, self.include_cutoff_time
            )
            # Under time-ordered folds, aggregations over X's own rows read the rows of earlier
            # periods only: reading the earlier rows of its own period too, a validated row would
            # see what no row sees at predict (counts of the same hour's earlier flights there,
            # none for a new row), and validation could not tell.
            order = order_values(periods, n) if periods is not None and cutoff is None else None
            rel = self.relational_.fit(df, tables, cutoff, order)
            overrides = self.relational_.column_overrides(df)
            df = pl.concat([df, rel], how="horizontal") if rel.width else df
        elif cutoff_time is not None:
            raise ValueError("cutoff_time is given without tables/relationships; it only applies to related tables.")
        self.coder_ = ColumnCoder.fit(df, overrides)
        if not self.coder_.kinds:
            raise ValueError(
                f"X has no usable column: {df.columns[:20]} are each an identifier (one value per row), "
                "constant or all missing; pass at least one column whose values vary and repeat "
                "(numbers, categories, dates)."
            )
        base = self.coder_.encode(df)
        self._train_base = base
        self.n_train_rows_ = n
        rng = np.random.default_rng(self.random_state)
        self.past_only_ = time_order is not None
        self._folds = periods if self.past_only_ else _assign_folds(n, self.n_folds, rng, groups)
        labels = None
        yenc = None
        if y is not None:
            self.task_, yenc, labels = self._encode_target(y, n)
        else:
            self.task_ = None
        specs, hidden = enumerate_specs(
            self.coder_, base, labels, self.operators, self.max_order, self.max_candidates,
            self.relational_.output_names if self.relational_ is not None else (),
        )
        self.features_, self._oof = self._fit_specs(specs, hidden, base, yenc, labels)
        self.candidate_names_ = [s[0] for s in specs]
        logger.info("FeatureGenerator: %d candidates from %d columns.", len(specs), len(self.coder_.kinds))

    def _fit_specs(self, specs, hidden, base, yenc, labels):
        coder = self.coder_
        feats = {}
        for name, kind in coder.kinds.items():
            feats[name] = Feature(name, "base", (), {}, kind, coder.card(name) if kind == "cat" else None, 0)
        for name, op, inputs, _ in hidden:
            vals = [base[i] for i in inputs]
            state = OPS[op].fit(vals, [feats[i].card for i in inputs], {})
            feats[name] = Feature(name, op, inputs, state, "cat", combine_card(state), 1)

        cache = {}

        def value(name):
            if name not in cache:
                f = feats[name]
                cache[name] = base[name] if f.op == "base" else OPS[f.op].apply([value(i) for i in f.inputs], f.state)
            return cache[name]

        # Group statistics in one polars pass per key.
        by_key = defaultdict(lambda: defaultdict(set))
        for name, op, inputs, _ in specs:
            if op.startswith("gb_") and op != "gb_rank":
                stat = "mean" if op in ("gb_dev", "gb_ratio") else op[3:]
                by_key[inputs[1]][inputs[0]].add(stat)
        tables = {
            k: group_stat_tables(value(k), feats[k].card, {x: (value(x), xs[x]) for x in sorted(xs)})
            for k, xs in by_key.items()
        }
        oof, ranks = {}, {}
        null_code = {c: v.index(NULL_TOKEN) for c, v in coder.vocab.items() if NULL_TOKEN in v}
        for name, op, inputs, extra in specs:
            if op == "base":
                continue
            cards = [feats[i].card for i in inputs]
            order = 1 + max(feats[i].order for i in inputs)
            if op in ("gb_dev", "gb_ratio"):
                state = {"table": tables[inputs[1]][inputs[0]]["mean"]}
            elif op == "gb_rank":
                if inputs[0] not in ranks:
                    ranks[inputs[0]] = value_ranks(value(inputs[0]))
                state = {"sketch": group_rank_sketch(value(inputs[1]), cards[1], value(inputs[0]), ranks[inputs[0]])}
            elif op.startswith("gb_"):
                state = {"table": tables[inputs[1]][inputs[0]][op[3:]]}
            elif op == "te":
                cls = 0 if extra is None else labels.index(extra)
                codes, card = value(inputs[0]), cards[0]
                yc = yenc[:, cls]
                state = {"table": target_stats(codes, card, yc, self.smoothing), "class": extra}
                oof[name] = oof_target_tables(codes, card, yc, self._folds, self.n_folds, self.smoothing,
                                              past_only=self.past_only_)
            elif op == "missing":
                state = {"null_code": null_code.get(inputs[0])}
            elif op == "n_missing":
                state = {"null_codes": [null_code.get(i) for i in inputs]}
            elif OPS[op].fit is not None:
                state = OPS[op].fit([value(i) for i in inputs], cards, {})
            else:
                state = {}
            feats[name] = Feature(name, op, inputs, state, OPS[op].out, None, order)
        return feats, oof

    # ------------------------------------------------------------------ outputs
    def candidate_source(self):
        """The candidates on the training rows as a lazy :class:`~featsmith._types.CandidateSource`."""
        check_is_fitted(self, "features_")
        return GeneratedCandidates(self)

    def _base_for(self, X, tables=None):
        check_is_fitted(self, "features_")
        check_n_features(X, self.n_features_in_, estimator_name="FeatureGenerator")
        df = check_frame(X, estimator_name="FeatureGenerator", column_names=self.feature_names_in_)
        if self.relational_ is not None:
            rel = self.relational_.transform(df, tables, cutoff_values(df, self.cutoff_column_, required=False))
            df = pl.concat([df.drop([c for c in rel.columns if c in df.columns]), rel], how="horizontal")
        return self.coder_.encode(df)

    def iter_chunks(self, X, tables=None, names=None):
        """Yield ``(names, float32 block)`` for new rows, ``chunk_size`` candidates at a time."""
        base = self._base_for(X, tables)
        names = self.candidate_names_ if names is None else list(names)
        ev = Evaluator(self.features_, base)
        for start in range(0, len(names), self.chunk_size):
            chunk = names[start:start + self.chunk_size]
            yield chunk, ev.block(chunk)

    def transform(self, X, tables=None):
        """All candidates on new rows: a float32 array ``(n_rows, n_candidates)``.

        Target encodings use the statistics of all training rows (for the training rows
        themselves use :meth:`fit_transform` or :meth:`candidate_source`, which are out of fold).
        """
        blocks = [b for _, b in self.iter_chunks(X, tables)]
        return np.hstack(blocks) if blocks else np.empty((len(X), 0), np.float32)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then return the training rows' candidates (target encodings out of fold)."""
        self.fit(X, y, **fit_params)
        return self.candidate_source().evaluate(self.candidate_names_)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "features_")
        return np.asarray(self.candidate_names_, dtype=object)

    def plan(self, names=None):
        """The :class:`FeaturePlan` computing ``names`` (default: all candidates), in that order."""
        check_is_fitted(self, "features_")
        names = list(self.candidate_names_ if names is None else names)
        unknown = [n for n in names if n not in self.features_]
        if unknown:
            raise ValueError(f"Unknown feature name(s) {unknown[:5]}; pick names from get_feature_names_out().")
        return FeaturePlan.of(names, self.features_, self.coder_, self.relational_, self.cutoff_column_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []  # candidates are always float32
        return tags


def time_periods(time_order, n_periods):
    """The period of every row when the rows, in the order of ``time_order``, are cut into
    ``n_periods`` consecutive periods of about equal size (``0`` the earliest). Rows with the
    same time are always in the same period.

    FeatureGenerator's time-ordered target-encoding folds are these periods, and so are
    AutoPipeline's time-ordered validation folds: with the same ``time_order`` and
    ``n_periods`` a validated period is encoded from earlier periods only.

    Parameters
    ----------
    time_order : array-like of shape (n_samples,)
        A sortable value per row: numbers or datetime64.
    n_periods : int

    Returns
    -------
    ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> time_periods(np.array([5, 1, 1, 3, 9, 7]), 3).tolist()
    [1, 0, 0, 1, 2, 2]
    """
    values = np.asarray(time_order)
    if values.dtype.kind == "M":
        values = values.astype("datetime64[ns]").view(np.int64)
    n = len(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.searchsorted(ordered, ordered, side="left")  # ties start where their value starts
    periods = np.empty(n, dtype=np.int64)
    periods[order] = first * n_periods // n
    return periods


def _time_folds(n, n_folds, time_order):
    """Fold of every row when folds are consecutive periods (:func:`time_periods`)."""
    values = np.asarray(time_order)
    if values.shape != (n,):
        raise ValueError(f"time_order has shape {values.shape}; pass one time per row of X ({n} rows).")
    return time_periods(values, n_folds)


def _assign_folds(n, n_folds, rng, groups=None):
    """Shuffled fold of every row; with ``groups``, whole groups go to one fold."""
    if groups is None:
        return (rng.permutation(n) % n_folds).astype(np.int64)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups has shape {groups.shape}; pass one group label per row of X ({n} rows).")
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    if n_groups < n_folds:
        raise ValueError(f"groups has {n_groups} distinct labels, fewer than n_folds={n_folds}; lower n_folds.")
    fold_of_group = rng.permutation(n_groups) % n_folds
    return fold_of_group[inverse].astype(np.int64)
