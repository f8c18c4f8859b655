import numpy as np
import pandas as pd
import pytest

from unskew.data import MISSING_GROUP, Dataset, infer_column_type
from unskew.exceptions import UnskewInputError


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "race": rng.choice(["A", "B", "C"], n),
            "flag": rng.choice([True, False], n),
            "when": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "note": [f"free text number {i} with several words in it" for i in range(n)],
            "y": rng.choice([0, 1], n),
        }
    )


def test_roles_and_types(frame):
    ds = Dataset.from_data(frame, target="y", sensitive="sex,race")
    assert ds.sensitive == ["sex", "race"]
    assert ds.features == ["age", "flag", "when", "note"]
    assert ds.column_types["age"] == "numeric"
    assert ds.column_types["sex"] == "categorical"
    assert ds.column_types["flag"] == "boolean"
    assert ds.column_types["when"] == "datetime"
    assert ds.column_types["note"] == "text"
    assert ds.column_types["y"] == "boolean"
    assert pd.api.types.is_datetime64_any_dtype(ds.frame["when"])


def test_type_override(frame):
    ds = Dataset.from_data(frame, target="y", column_types={"age": "categorical"})
    assert ds.column_types["age"] == "categorical"
    with pytest.raises(UnskewInputError, match="Unknown column type"):
        Dataset.from_data(frame, target="y", column_types={"age": "weird"})


def test_intersectional_groups(frame):
    ds = Dataset.from_data(frame, target="y", sensitive=["sex", "race"])
    codes, labels = ds.group_codes()
    assert len(labels) == 6
    assert "sex=F & race=A" in labels
    expected = (frame["sex"] == "F") & (frame["race"] == "A")
    assert (codes == labels.index("sex=F & race=A")).sum() == expected.sum()


def test_missing_target_rows_are_excluded_and_counted(frame):
    frame.loc[:9, "y"] = np.nan
    ds = Dataset.from_data(frame, target="y", sensitive="sex")
    assert len(ds) == 190
    assert ds.excluded == {"target is missing": 10}
    assert ds.describe()["excluded_rows"] == {"target is missing": 10}
    assert ds.n_rows_read == 200


def test_missing_sensitive_value_is_its_own_group(frame):
    frame["sex"] = frame["sex"].astype(object)
    frame.loc[:4, "sex"] = None
    ds = Dataset.from_data(frame, target="y", sensitive="sex")
    assert len(ds) == 200
    assert (ds.sensitive_values("sex") == MISSING_GROUP).sum() == 5


def test_bad_inputs(frame):
    with pytest.raises(UnskewInputError, match="Did you mean 'sex'"):
        Dataset.from_data(frame, target="y", sensitive="sexx")
    with pytest.raises(UnskewInputError, match="1 class"):
        Dataset.from_data(frame.assign(y=1), target="y")
    with pytest.raises(UnskewInputError, match="distinct values"):
        Dataset.from_data(frame.assign(pid=np.arange(200)), target="y", sensitive="pid")
    with pytest.raises(UnskewInputError, match="entirely missing"):
        Dataset.from_data(frame.assign(empty=np.nan), target="y")
    ok = Dataset.from_data(frame.assign(empty=np.nan), target="y", ignore=["empty"])
    assert "empty" not in ok.features
    with pytest.raises(UnskewInputError, match="mixed types"):
        Dataset.from_data(frame.assign(num=[str(i) for i in range(199)] + ["?"]), target="y")
    with pytest.raises(UnskewInputError, match="Weight column"):
        Dataset.from_data(frame.assign(w=-1.0), target="y", weights="w")


def test_infer_column_type_boolean_tokens():
    assert infer_column_type(pd.Series(["yes", "no", "yes"])) == "boolean"
    assert infer_column_type(pd.Series([0, 1, 1])) == "boolean"
    assert infer_column_type(pd.Series([0.5, 1.5])) == "numeric"


def test_binary_target_positive_label(frame):
    ds = Dataset.from_data(frame.assign(y=np.where(frame["y"] == 1, ">50K", "<=50K")), target="y")
    assert ds.positive_label() == ">50K"
    assert ds.binary_target().sum() == (frame["y"] == 1).sum()
