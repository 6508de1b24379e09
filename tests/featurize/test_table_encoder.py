import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize import TableEncoder


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "city": ["a", "b", "a", None, "c", "a"],
            "x": [1.0, np.nan, 3.0, 4.0, np.inf, 6.0],
            "when": pd.to_datetime(["2021-01-01 10:00", "2021-06-15", "2021-12-31", None, "2022-02-02", "2022-03-03"], format="mixed"),
            "note": ["short text here", "another longer note with words", "x y z", "a b c", "d e f g", "h i j"],
        }
    )


def test_output_names_and_categorical_positions(frame):
    enc = TableEncoder().fit(frame)
    names = enc.get_feature_names_out().tolist()
    assert names[:3] == ["city", "freq(city)", "missing(city)"]
    assert "hour(when)" in names and "timestamp(when)" in names and "missing(when)" in names
    assert "len(note)" in names and "words(note)" in names
    assert enc.categorical_features_ == [0]
    out = enc.transform(frame)
    assert out.shape == (6, len(names))


def test_values(frame):
    enc = TableEncoder().fit(frame)
    out = pd.DataFrame(enc.transform(frame), columns=enc.get_feature_names_out())
    assert out["city"].tolist()[:3] == [0.0, 1.0, 0.0]  # most frequent category gets code 0
    assert out["freq(city)"].iloc[0] == pytest.approx(3 / 6)
    assert np.isnan(out["x"].iloc[4])  # inf is missing
    assert out["missing(x)"].tolist() == [0, 1, 0, 0, 0, 0]
    assert out["month(when)"].iloc[1] == 6 and out["dayofweek(when)"].iloc[0] == 5  # Friday
    assert out["words(note)"].iloc[1] == 5


def test_subset_encodes_only_its_outputs_each_as_the_whole_encoder_does(frame):
    enc = TableEncoder().fit(frame)
    names = enc.get_feature_names_out().tolist()
    keep = ["words(note)", "city", "missing(x)", "month(when)"]
    small = enc.subset(keep)
    order = [n for n in names if n in keep]  # the encoder's order, not the caller's
    assert small.get_feature_names_out().tolist() == order and small.categorical_features_ == [0]
    assert set(small.feature_inputs_.values()) == {"city", "x", "when", "note"}
    full = pd.DataFrame(enc.transform(frame), columns=names)
    np.testing.assert_array_equal(small.transform(frame), full[order].to_numpy())
    # Only the columns it reads are type-checked: a column it does not encode may drift.
    only_x = enc.subset(["missing(x)"])
    drifted = frame.assign(when=[1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(only_x.transform(drifted), full[["missing(x)"]].to_numpy())
    with pytest.raises(ValueError, match="'when'"):
        enc.transform(drifted)
    assert enc.subset([]).transform(frame).shape == (6, 0)
    assert enc.get_feature_names_out().tolist() == names  # the original is unchanged
    with pytest.raises(ValueError, match="not this encoder"):
        enc.subset(["nope"])


def test_rare_categories_are_grouped_by_frequency_not_made_missing():
    # 255 categories with at least 3 rows fill the codes every category gets; beyond them a
    # category needs min_frequency rows, and the rest share one code per band of counts.
    values = ["a"] * 20 + ["q"] * 10 + [f"p{i:03d}" for i in range(254) for _ in range(3)] + ["r", "r", "s", "t"]
    X = pd.DataFrame({"c": values})
    new = pd.DataFrame({"c": ["a", "p253", "r", "s", "t", "new"]})
    enc = TableEncoder().fit(X)
    assert len(enc.categories_["c"]) == 255 and enc.categories_["c"][:2] == ["a", "q"]
    out = enc.transform(new)
    # p253 (3 rows) and r (2 rows) share band 2-3, s and t (1 row) band 1; unseen is missing.
    assert out[:5, 0].tolist() == [0, 255, 255, 256, 256] and np.isnan(out[5, 0])
    assert out[5, 1] == 0.0  # unseen category: frequency 0
    out = TableEncoder(min_frequency=3).fit(X).transform(new)
    assert out[:5, 0].tolist() == [0, 255, 256, 257, 257]  # p253 has 3 rows: a code of its own
    capped = TableEncoder(max_categories=1).fit(X).transform(pd.DataFrame({"c": ["a", "q", "p000", "s"]}))
    assert capped[:, 0].tolist() == [0, 1, 2, 3]  # beyond the cap: grouped by band, not missing


@pytest.mark.parametrize("param", ["max_categories", "min_frequency"])
def test_category_limits_are_checked(param):
    with pytest.raises(ValueError, match=param):
        TableEncoder(**{param: 0}).fit(pd.DataFrame({"c": ["a", "b"]}))


def _many_level_data(n_rows, n_levels, seed):
    """A binary target driven by a many-level categorical's per-level effect and one number."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 1.0, n_levels)
    level = rng.integers(0, n_levels, n_rows)
    x = rng.normal(size=n_rows)
    logit = effect[level] + 0.5 * x
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"level": pd.Categorical(np.char.add("L", level.astype(str))), "x": x}), y


def test_high_cardinality_encoding_matches_lightgbm_on_pandas_categoricals():
    """Every level with enough rows keeps its own code: LightGBM's defaults on the encoding
    score at least as well as on pandas categoricals (they lost 0.04 AUC when the encoding
    kept only the 255 most frequent levels)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    X, y = _many_level_data(40_000, 1_000, seed=0)
    Xtr, Xte, ytr, yte = X.iloc[:30_000], X.iloc[30_000:], y[:30_000], y[30_000:]
    params = dict(verbosity=-1, n_jobs=1, random_state=0)
    plain = roc_auc_score(yte, lgb.LGBMClassifier(**params).fit(Xtr, ytr).predict_proba(Xte)[:, 1])

    def encoded_auc(encoder):
        enc = encoder.fit(Xtr)
        model = lgb.LGBMClassifier(**params).fit(enc.transform(Xtr), ytr, categorical_feature=enc.categorical_features_)
        return roc_auc_score(yte, model.predict_proba(enc.transform(Xte))[:, 1])

    ours, truncated = encoded_auc(TableEncoder()), encoded_auc(TableEncoder(max_categories=255, min_frequency=10**9))
    assert ours >= plain - 0.002, (ours, plain)
    assert truncated < plain - 0.01  # the test can tell: codes for the 255 most frequent only lose


def test_polars_and_set_output(frame):
    enc = TableEncoder().set_output(transform="polars").fit(pl.from_pandas(frame))
    out = enc.transform(pl.from_pandas(frame))
    assert isinstance(out, pl.DataFrame) and out.columns == enc.get_feature_names_out().tolist()


def test_missing_column_at_transform(frame):
    enc = TableEncoder().fit(frame)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['x'\]"):
        enc.transform(frame.drop(columns="x"))


# -- messy columns and columns whose type changes after fit ---------------------------------------
MIXED = [1, "x", None, 2.5, "3", "x", 1.0, 3]


def _as_input(frame: pd.DataFrame, kind: str):
    if kind == "pandas":
        return frame
    if kind == "numpy":
        return frame.to_numpy(dtype=object)
    # polars has no mixed column but Object; the other columns keep their types
    return pl.from_pandas(frame.drop(columns="m")).with_columns(pl.Series("m", frame["m"].tolist(), dtype=pl.Object))


@pytest.mark.parametrize("kind", ["pandas", "numpy", "polars"])
def test_mixed_object_column_is_categorical(kind):
    X = pd.DataFrame({"m": pd.Series(MIXED, dtype=object), "x": np.arange(8.0)})
    m = "x0" if kind == "numpy" else "m"  # numpy columns are named by position
    enc = TableEncoder().fit(_as_input(X, kind))
    assert enc.schema_[m] == "categorical"
    assert enc.categories_[m] == ["1", "3", "x", "2.5"]  # 1 and 1.0, 3 and "3": one category each
    new = pd.DataFrame({"m": pd.Series([3.0, "3", 2.5, "new", None, b"x", True], dtype=object), "x": np.zeros(7)})
    out = pd.DataFrame(enc.transform(_as_input(new, kind)), columns=enc.get_feature_names_out())
    np.testing.assert_array_equal(out[m], [1, 1, 3, np.nan, np.nan, 2, np.nan])
    np.testing.assert_array_equal(out[f"missing({m})"], [0, 0, 0, 0, 1, 0, 0])


@pytest.fixture
def typed():
    X = pd.DataFrame({
        "num": [1.0, 2.0, 3.0, 4.0],
        "cat": ["1", "2", "a", "2"],
        "when": pd.to_datetime(["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"]),
        "flag": [True, False, True, False],
    })
    return X, TableEncoder().fit(X)


def test_numbers_at_fit_strings_at_predict_are_parsed(typed, caplog):
    X, enc = typed
    drifted = X.assign(num=["1.5", " 2 ", "n/a?", None], flag=["yes", "0", "False", "maybe"])
    with caplog.at_level("WARNING", logger="featsmith"):
        out = pd.DataFrame(enc.transform(drifted), columns=enc.get_feature_names_out())
    np.testing.assert_array_equal(out["num"], [1.5, 2.0, np.nan, np.nan])
    np.testing.assert_array_equal(out["flag"], [1, 0, 0, np.nan])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "Column 'num' held numbers at fit but holds strings now; 1 of 4" in warnings[0]
    assert "'n/a?'" in warnings[0] and "treated as missing" in warnings[0]
    assert "Column 'flag' held booleans" in warnings[1]
    # numbers that are all numbers: no warning, the same encoding as at fit
    caplog.clear()
    with caplog.at_level("WARNING", logger="featsmith"):
        np.testing.assert_array_equal(enc.transform(X.assign(num=X["num"].astype(str))), enc.transform(X))
    assert not caplog.records


def test_strings_at_fit_numbers_at_predict_compare_as_strings(typed):
    X, enc = typed
    cat = enc.get_feature_names_out().tolist().index("cat")
    expected = enc.transform(X)[:, cat]
    for numbers in ([1, 2, None, 2], [1.0, 2.0, np.nan, 2.0], pd.array([1, 2, None, 2], dtype="Int64")):
        out = enc.transform(X.assign(cat=numbers))[:, cat]
        np.testing.assert_array_equal(out[[0, 1, 3]], expected[[0, 1, 3]])
        assert np.isnan(out[2])
    assert enc.transform(pl.from_pandas(X).with_columns(pl.col("flag").cast(pl.Int8)))[:, -1].tolist() == [1, 0, 1, 0]


def test_datetimes_at_fit_strings_at_predict_are_parsed(typed, caplog):
    X, enc = typed
    names = enc.get_feature_names_out().tolist()
    as_text = X.assign(when=X["when"].dt.strftime("%Y-%m-%d"))
    np.testing.assert_array_equal(enc.transform(as_text), enc.transform(X))
    with caplog.at_level("WARNING", logger="featsmith"):
        out = enc.transform(X.assign(when=["2021-05-05", "soon", None, "2021-06-06"]))
    assert np.isnan(out[[1, 2], names.index("year(when)")]).all()
    assert "Column 'when' held datetimes at fit" in caplog.text and "'soon'" in caplog.text
    # a batch none of whose strings parse is all missing, not a polars format error
    out = enc.transform(X.assign(when=["soon"] * 4))
    assert np.isnan(out[:, names.index("timestamp(when)")]).all()


@pytest.mark.parametrize(
    "column, values, match",
    [
        ("num", pd.to_datetime(["2021-01-01"] * 4), r"Column 'num' of X held numbers at fit \(typed numeric\) but holds Datetime"),
        ("when", [1, 2, 3, 4], r"Column 'when' of X held datetimes at fit \(typed datetime\) but holds Int64"),
        ("flag", pd.to_datetime(["2021-01-01"] * 4), r"Column 'flag' of X held booleans at fit \(typed boolean\)"),
        ("cat", pd.Series([[1], [2], [3], None], dtype=object), r"Column 'cat' of X held strings at fit \(typed categorical\) but holds List"),
    ],
)
def test_types_a_kind_cannot_read_raise_naming_the_column(typed, column, values, match):
    X, enc = typed
    with pytest.raises(ValueError, match=match) as err:
        enc.transform(X.assign(**{column: values}))
    assert "as at fit, or refit" in str(err.value)  # the fix


def test_feature_plans_read_drifted_columns_like_the_encoder(typed, caplog):
    from featsmith.featurize import FeatureGenerator

    X, _ = typed
    X = pd.concat([X] * 5, ignore_index=True)
    gen = FeatureGenerator(random_state=0, max_candidates=10).fit(X, np.arange(20.0))
    plan = gen.plan(["num", "cat", "when"])
    expected = plan.transform(X).to_numpy()
    drifted = X.assign(num=X["num"].astype(str), cat=X["cat"].map({"1": 1, "2": 2.0, "a": "a"}),
                       when=X["when"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    np.testing.assert_array_equal(plan.transform(drifted).to_numpy(), expected)
    np.testing.assert_array_equal(gen.transform(drifted), gen.transform(X))
    with pytest.raises(ValueError, match="Column 'when' of X held datetimes"):
        plan.transform(X.assign(when=1.0))
    # both readers see the same unparseable strings in one predict: one warning
    with caplog.at_level("WARNING", logger="featsmith"):
        bad = X.assign(num=["oops"] + X["num"].astype(str).tolist()[1:])
        TableEncoder().fit(X).transform(bad)
        plan.transform(bad)
    assert len(caplog.records) == 1 and "Column 'num'" in caplog.text
