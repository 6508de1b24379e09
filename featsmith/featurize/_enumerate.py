"""Candidate enumeration: which operator goes on which columns, in a deterministic order.

First-order candidates apply one operator to raw columns; second-order candidates use a
first-order categorical (a pair of categories) as a group key. Families are interleaved
round-robin when ``max_candidates`` cuts the list, so a cap keeps a bit of every kind rather
than only the first family.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from featsmith.featurize._ops import CROSS_OPS, DATETIME_OPS, GROUP_OPS, OPS, UNARY_OPS

# Specs are (name, op, inputs, extra) tuples; extra carries e.g. the class of a target encoding.
_ORDER2_GROUP_OPS = GROUP_OPS


def _allowed(op, operators):
    return operators is None or op in operators or OPS[op].family in operators


def _label(op, inputs, display):
    return OPS[op].label([display.get(i, i) for i in inputs])


def enumerate_specs(coder, base, target_labels, operators=None, max_order=2, max_candidates=2000, passthrough=()):
    """Return (candidate specs, hidden specs) in a deterministic order.

    ``passthrough`` columns (the relational features) are candidates themselves, ahead of the
    rest: their values come from other tables, which X's own columns cannot reproduce.

    ``target_labels`` is ``None`` without a target, ``[None]`` for one encoded target column
    (regression, binary) and the class labels for multiclass.
    """
    kinds = coder.kinds
    nums = [c for c, k in kinds.items() if k == "num"]
    cats = [c for c, k in kinds.items() if k == "cat"]
    dts = [c for c, k in kinds.items() if k == "dt"]
    texts = [c for c, k in kinds.items() if k == "text"]
    display = {}
    fam = {}

    def add(family, op, inputs, extra=None, name=None):
        if not _allowed(op, operators):
            return
        fam.setdefault(family, []).append((name or _label(op, inputs, display), op, tuple(inputs), extra))

    for c in coder.missing:
        add("missing", "missing", [c])
    if len(coder.missing) >= 2:
        add("missing", "n_missing", coder.missing)
    for t in texts:
        add("text", "len", [t])
        add("text", "words", [t])
    for d in dts:
        sec = base[d]
        has_time = bool(np.nanmax(np.mod(sec, 86400.0), initial=0.0) > 0)
        for op in DATETIME_OPS:
            if "hour" in op and not has_time:
                continue
            add("datetime", op, [d])
    for a, b in combinations(dts, 2):
        add("datetime", "dt_diff", [a, b])
    binary_num = {c for c in nums if np.unique(base[c][~np.isnan(base[c])][:100000]).size <= 2}
    nonneg = {c for c in nums if np.nanmin(base[c], initial=0.0) >= 0}
    for c in nums:
        if c in binary_num:
            continue
        for op in UNARY_OPS:
            if op == "abs" and c in nonneg:
                continue
            add("unary", op, [c])
    for c in cats:
        add("categorical", "freq", [c])
        if target_labels is not None:
            for lab in target_labels:
                add("target", "te", [c], lab, f"te({c})" if lab is None else f"te({c})[={lab}]")
    for a, b in combinations(cats, 2):
        add("categorical", "nunique_in", [a, b])
        add("categorical", "nunique_in", [b, a])
    for k in cats:
        for x in nums:
            for op in GROUP_OPS:
                add("groupby", op, [x, k])
    for a, b in combinations(nums, 2):
        for op in CROSS_OPS:
            add("cross", op, [a, b])
            if op in ("sub", "div"):
                add("cross", op, [b, a])
    hidden = []
    if max_order >= 2 and len(cats) >= 2 and _allowed("combine", operators):
        for a, b in combinations(cats, 2):
            key = OPS["combine"].label([a, b])
            hidden.append((key, "combine", (a, b), None))
            display[key] = key
            add("categorical2", "freq", [key])
            if target_labels is not None:
                for lab in target_labels:
                    add("target2", "te", [key], lab, f"te({key})" if lab is None else f"te({key})[={lab}]")
            for x in nums:
                for op in _ORDER2_GROUP_OPS:
                    add("groupby2", op, [x, key])
    # Round-robin over families in a fixed order so a cap keeps a share of each.
    order = ["missing", "text", "datetime", "target", "categorical", "unary", "groupby", "cross",
             "target2", "categorical2", "groupby2"]
    lists = [fam.get(f, []) for f in order]
    out = [(c, "base", (), None) for c in passthrough if coder.kinds.get(c) in ("num", "cat")][:max_candidates]
    seen = set(coder.kinds)
    i = 0
    while len(out) < max_candidates and any(i < len(lst) for lst in lists):
        for lst in lists:
            if i < len(lst) and len(out) < max_candidates:
                spec = lst[i]
                if spec[0] not in seen:  # never shadow a raw column or a duplicate
                    seen.add(spec[0])
                    out.append(spec)
        i += 1
    used = {i for s in out for i in s[2]}
    hidden = [h for h in hidden if h[0] in used]
    return out, hidden
