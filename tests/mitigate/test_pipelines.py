"""Use inside pipelines: scikit-learn metadata routing and imbalanced-learn's Pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unskew.mitigate.post import GroupThresholdOptimizer, RejectOptionClassifier
from unskew.mitigate.pre import (
    CorrelationRemover,
    GroupRandomUnderSampler,
    GroupSMOTE,
    ReweighingClassifier,
    reweighing_weights,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 3000
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3))
    X[:, 0] += 1.2 * s
    y = (X[:, 0] + rng.normal(size=n) > 0.6).astype(int)
    return X, y, s


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_threshold_optimizer_in_pipeline_with_routing(data, routing):
    X, y, s = data
    opt = (GroupThresholdOptimizer(constraint="demographic_parity")
           .set_fit_request(sensitive_features=True, sample_weight=False)
           .set_predict_request(sensitive_features=True))
    pipe = make_pipeline(StandardScaler(), opt).fit(X, y, sensitive_features=s)
    pred = pipe.predict(X, sensitive_features=s)
    rates = [pred[s == g].mean() for g in (0, 1)]
    assert abs(rates[0] - rates[1]) < 0.03
    raw = LogisticRegression().fit(X, y).predict(X)
    assert abs(raw[s == 0].mean() - raw[s == 1].mean()) > 0.2


def test_reject_option_in_pipeline_with_routing(data, routing):
    X, y, s = data
    roc = (RejectOptionClassifier(n_thresholds=30, n_margins=20)
           .set_fit_request(sensitive_features=True, sample_weight=False)
           .set_predict_request(sensitive_features=True))
    pipe = make_pipeline(StandardScaler(), roc).fit(X, y, sensitive_features=s)
    pred = pipe.predict(X, sensitive_features=s)
    assert abs(pred[s == 0].mean() - pred[s == 1].mean()) <= 0.05 + 1e-9


def test_correlation_remover_routed_to_fit_and_transform(data, routing):
    X, y, s = data
    cr = CorrelationRemover().set_fit_request(sensitive_features=True).set_transform_request(sensitive_features=True)
    pipe = make_pipeline(cr, LogisticRegression()).fit(X, y, sensitive_features=s)
    Xt = pipe[0].transform(X, sensitive_features=s)
    assert abs(np.corrcoef(Xt[:, 0], s)[0, 1]) < 1e-10
    assert pipe.predict(X, sensitive_features=s).shape == (len(y),)


def test_reweighing_classifier_cross_validated_with_routed_groups(data, routing):
    X, y, s = data
    rw = ReweighingClassifier(LogisticRegression()).set_fit_request(sensitive_features=True, sample_weight=False)
    res = cross_validate(make_pipeline(StandardScaler(), rw), X, y, params={"sensitive_features": s}, cv=3,
                         return_estimator=True)
    assert res["test_score"].min() > 0.6
    # each fold's weights come from that fold's rows (the groups were split with X)
    fitted = res["estimator"][0][-1]
    assert fitted.reweighing_.weights_.shape[0] == 2000


def test_reweighing_without_routing_uses_step_parameters(data):
    X, y, s = data
    pipe = make_pipeline(StandardScaler(), ReweighingClassifier(LogisticRegression()))
    pipe.fit(X, y, reweighingclassifier__sensitive_features=s)
    ref = LogisticRegression().fit(StandardScaler().fit_transform(X), y, sample_weight=reweighing_weights(y, s))
    np.testing.assert_allclose(pipe[-1].estimator_.coef_, ref.coef_)


@pytest.mark.peers
def test_samplers_in_imblearn_pipeline(data, routing):
    from imblearn.pipeline import Pipeline

    X, y, s = data
    smote = GroupSMOTE(random_state=0).set_fit_resample_request(sensitive_features=True)
    pipe = Pipeline([("smote", smote), ("lr", LogisticRegression())]).fit(X, y, sensitive_features=s)
    counts = pipe.named_steps["smote"].cell_counts_
    assert counts["after"].nunique() == 1 and (counts["after"] >= counts["before"]).all()
    assert pipe.predict(X).shape == (len(y),)  # samplers are skipped at prediction


@pytest.mark.peers
def test_sampler_reading_sensitive_column_from_X(data):
    from imblearn.pipeline import Pipeline

    X, y, s = data
    Xs = np.c_[s, X]
    pipe = Pipeline([("under", GroupRandomUnderSampler(sensitive_cols=[0], random_state=0)),
                     ("lr", LogisticRegression())]).fit(Xs, y)
    counts = pipe.named_steps["under"].cell_counts_
    assert counts["after"].nunique() == 1 and counts["after"].iloc[0] == counts["before"].min()
