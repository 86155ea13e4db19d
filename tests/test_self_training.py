"""SelfTraining: pseudo-labelling of the target rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from tltaxonomy.base import MASKED
from tltaxonomy.classifiers import CVSVC
from tltaxonomy.datasets import make_rotated_moons
from tltaxonomy.transductive import SelfTraining, SourceOnly


@pytest.mark.parametrize("k_best", [None, 30])
def test_self_training_beats_source_only_on_rotated_moons(k_best):
    Xs, ys, Xt, yt = make_rotated_moons(angle=35)
    knn = KNeighborsClassifier(15)
    base = SourceOnly(estimator=knn).fit_domains(Xs, ys, Xt).score(Xt, yt)
    st = SelfTraining(estimator=knn, threshold=0.8, k_best=k_best).fit_domains(Xs, ys, Xt)
    assert st.score(Xt, yt) > base + 0.02
    assert st.n_iter_ >= 2 and len(st.history_) == st.n_iter_ - 1
    assert st.termination_condition_ in {"no_change", "max_iter"}
    has = st.pseudo_labels_ != MASKED
    assert has.sum() == st.history_[-1]["n_pseudo_labeled"]
    assert (st.pseudo_labels_[has] == yt[has]).mean() > 0.95  # pseudo-labels mostly right (checked here only)
    if k_best is not None:
        for h in st.history_:
            assert max(h["class_counts"]) <= k_best * h["iteration"]


def test_threshold_one_gives_the_source_only_model():
    Xs, ys, Xt, yt = make_rotated_moons(angle=35)
    lr = LogisticRegression()
    st = SelfTraining(estimator=lr, threshold=1.0).fit_domains(Xs, ys, Xt)
    assert st.n_iter_ == 1 and st.history_ == [] and st.termination_condition_ == "no_change"
    assert np.all(st.pseudo_labels_ == MASKED)
    ref = LogisticRegression().fit(Xs, ys)
    np.testing.assert_array_equal(st.predict(Xt), ref.predict(Xt))
    np.testing.assert_allclose(st.predict_proba(Xt), ref.predict_proba(Xt))


def test_threshold_zero_labels_everything_and_lower_threshold_labels_more():
    Xs, ys, Xt, _ = make_rotated_moons(angle=20)
    counts = []
    for th in (0.99, 0.9, 0.0):
        st = SelfTraining(estimator=LogisticRegression(), threshold=th, max_iter=1).fit_domains(Xs, ys, Xt)
        counts.append(int((st.pseudo_labels_ != MASKED).sum()))
    assert counts[0] <= counts[1] <= counts[2] == len(Xt)


def test_reassign_false_keeps_labels_once_given():
    Xs, ys, Xt, _ = make_rotated_moons(angle=35)
    st = SelfTraining(estimator=KNeighborsClassifier(15), threshold=0.8, k_best=20, reassign=False, max_iter=5)
    st.fit_domains(Xs, ys, Xt)
    assert all(h["n_removed"] == 0 and h["n_changed"] == 0 for h in st.history_)
    assert all(h["n_added"] <= 2 * 20 for h in st.history_)
    assert np.all(np.diff([h["n_pseudo_labeled"] for h in st.history_]) >= 0)


@pytest.mark.parametrize("est", [LinearSVC(), CVSVC(kernel="linear", Cs=[1.0])], ids=["LinearSVC", "CVSVC"])
def test_decision_function_only_estimators_work(est):
    Xs, ys, Xt, yt = make_rotated_moons(angle=20)
    st = SelfTraining(estimator=est, threshold=0.7).fit_domains(Xs, ys, Xt)
    assert st.predict(Xt).shape == yt.shape
    assert not hasattr(st, "predict_proba")


def test_estimator_without_scores_is_refused():
    class PredictOnly(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.zeros(X.shape[0], int)

    Xs, ys, Xt, _ = make_rotated_moons()
    with pytest.raises(ValueError, match="PredictOnly has neither predict_proba nor decision_function"):
        SelfTraining(estimator=PredictOnly()).fit_domains(Xs, ys, Xt)


def test_sparse_input_and_string_labels():
    Xs, ys, Xt, _ = make_rotated_moons(angle=20)
    labels = np.array(["upper", "lower"])[ys]
    st = SelfTraining().fit_domains(sp.csr_matrix(Xs), labels, sp.csr_matrix(Xt))
    assert set(st.predict(sp.csr_matrix(Xt))) <= {"upper", "lower"}
    assert st.selection_protocol() == "none"
