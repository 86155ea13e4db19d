r"""Self-training (pseudo-labelling) for domain adaptation: labelled source rows, unlabelled target rows."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods, Interval

from ..base import MASKED, BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import estimator_selection
from ..registry import register

__all__ = ["SelfTraining", "prediction_confidence"]


def prediction_confidence(estimator, X, n_classes: int) -> np.ndarray:
    r"""Class scores in :math:`[0, 1]` (rows sum to 1) of a fitted classifier.

    ``predict_proba`` if the classifier has it; otherwise the softmax of ``decision_function``
    (binary: :math:`(1 - \sigma(f), \sigma(f))` with :math:`\sigma` the logistic function). Columns follow
    ``estimator.classes_`` mapped into ``0 .. n_classes-1`` (a class absent from the fit gets 0).
    """
    if hasattr(estimator, "predict_proba"):
        P = np.asarray(estimator.predict_proba(X), dtype=float)
    elif hasattr(estimator, "decision_function"):
        f = np.asarray(estimator.decision_function(X), dtype=float)
        if f.ndim == 1:
            p1 = expit(f)
            P = np.column_stack([1 - p1, p1])
        else:
            P = softmax(f, axis=1)
    else:
        raise ValueError(
            f"SelfTraining: the estimator {type(estimator).__name__} has neither predict_proba nor "
            "decision_function; the confidence of a pseudo-label cannot be computed."
        )
    cls = np.asarray(getattr(estimator, "classes_", np.arange(P.shape[1]))).astype(int)
    out = np.zeros((P.shape[0], n_classes))
    out[:, cls] = P
    return out


def _vstack(a, b):
    if sp.issparse(a) or sp.issparse(b):
        return sp.vstack([sp.csr_matrix(a), sp.csr_matrix(b)], format="csr")
    return np.vstack([a, b])


@register("self_training", setting="transductive", family="self_training")
class SelfTraining(BaseDomainAdaptationClassifier):
    r"""Self-training: iterative pseudo-labelling of the target rows around any base classifier.

    Round 0 fits ``estimator`` on the labelled source rows :math:`(X_S, y_S)`. Round :math:`r` predicts
    the target rows, scores each with the confidence :math:`c(x) = \max_k \hat p_r(k \mid x)`
    (``predict_proba``, or the softmax of ``decision_function``) and selects

    .. math::

        \mathcal P_r = \{\, x \in X_T : c(x) > \tau \,\}
        \quad(\text{and, with } k, \text{ at most } k \text{ of each predicted class, most confident first}),
        \qquad \hat y(x) = \arg\max_k \hat p_r(k \mid x),

    then refits ``estimator`` on :math:`(X_S, y_S) \cup \{(x, \hat y(x)) : x \in \mathcal P_r\}`. It stops
    after ``max_iter`` refits, or when the pseudo-labelled set and its labels no longer change.

    Two bookkeeping modes:

    - ``reassign=True`` (default, the usual choice in domain adaptation): every round re-predicts
      *all* target rows, so a pseudo-label can change or be dropped when the model's confidence falls;
      with ``k_best`` the per-class quota grows by ``k_best`` each round (curriculum).
    - ``reassign=False``: sklearn's :class:`~sklearn.semi_supervised.SelfTrainingClassifier` semantics
      — a row, once pseudo-labelled, keeps its label for good, and each round adds rows from the
      still-unlabelled ones (at most ``k_best`` per class per round with ``k_best``).

    Difference from :class:`~sklearn.semi_supervised.SelfTrainingClassifier`: there, labelled and
    unlabelled rows are one sample marked by ``y == -1`` and nothing distinguishes domains; here the
    labelled rows are the *source* domain and the unlabelled rows the *target* domain
    (``sample_domain``), only target rows are ever pseudo-labelled, target labels are masked by the
    base class whatever the caller passes, ``decision_function`` classifiers are accepted, ``k_best``
    is a per-class (class-balanced) quota rather than a global one, and pseudo-labels may be revised
    (``reassign=True``).

    Parameters
    ----------
    estimator : sklearn classifier or None, default=None
        Needs ``predict_proba`` or ``decision_function``. ``None`` = ``LogisticRegression(max_iter=1000)``
        (calibrated probabilities make ``threshold`` meaningful; an SVM's softmax-ed margins are not
        probabilities).
    threshold : float in [0, 1], default=0.9
        A target row is pseudo-labelled when its confidence is *strictly* above ``threshold`` (as in
        sklearn). ``1.0`` keeps nothing: the result is the source-only ``estimator``.
    k_best : int or None, default=None
        Class-balanced quota: at most ``k_best`` pseudo-labels per predicted class per round (the most
        confident among those above ``threshold``). ``None`` = no quota.
    max_iter : int, default=10
        Maximum number of pseudo-labelling rounds (refits after the source-only fit).
    reassign : bool, default=True
        See above.
    random_state : int, RandomState or None, default=None
        Passed to the default estimator; set a user estimator's own ``random_state`` yourself.

    Attributes
    ----------
    estimator_ : the classifier of the last round
    pseudo_labels_ : ndarray of int of shape (n_target,)
        Encoded pseudo-label of each target row (``classes_[pseudo_labels_[i]]``), :data:`MASKED` (-1)
        where none.
    confidence_ : ndarray of shape (n_target,)
        Confidence of the last round's prediction on each target row.
    n_iter_ : int
        Number of fits of the base estimator: 1 (the source-only fit) + the pseudo-labelling rounds.
    termination_condition_ : {"max_iter", "no_change", "all_labeled", "no_target"}
    history_ : list of dict
        Per round: ``iteration``, ``n_pseudo_labeled``, ``n_added``, ``n_removed``, ``n_changed``,
        ``mean_confidence`` (over the target rows) and ``class_counts`` of the pseudo-labels.

    References
    ----------
    .. [1] D. Yarowsky. "Unsupervised word sense disambiguation rivaling supervised methods". ACL 1995.
    .. [2] D.-H. Lee. "Pseudo-label: the simple and efficient semi-supervised learning method for deep
       neural networks". ICML workshop 2013.
    .. [3] Y. Zou, Z. Yu, B. V. K. V. Kumar, J. Wang. "Unsupervised Domain Adaptation for Semantic
       Segmentation via Class-Balanced Self-Training". ECCV 2018.

    Examples
    --------
    >>> from tltaxonomy.datasets import make_rotated_moons
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> Xs, ys, Xt, yt = make_rotated_moons(angle=35)
    >>> st = SelfTraining(estimator=KNeighborsClassifier(15), threshold=0.8).fit_domains(Xs, ys, Xt)
    >>> st.predict(Xt).shape, st.termination_condition_
    ((300,), 'no_change')
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "k_best": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "reassign": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, *, estimator=None, threshold=0.9, k_best=None, max_iter=10, reassign=True, random_state=None):
        self.estimator = estimator
        self.threshold = threshold
        self.k_best = k_best
        self.max_iter = max_iter
        self.reassign = reassign
        self.random_state = random_state

    def _base(self):
        if self.estimator is None:
            return LogisticRegression(max_iter=1000, random_state=self.random_state)
        return clone(self.estimator)

    def _select(self, conf, pred, candidates, quota, n_classes):
        ok = candidates & (conf > self.threshold)
        if quota is None:
            return ok
        chosen = np.zeros_like(ok)
        for k in range(n_classes):
            rows = np.flatnonzero(ok & (pred == k))
            if rows.size > quota:
                rows = rows[np.argsort(-conf[rows], kind="stable")[:quota]]
            chosen[rows] = True
        return chosen

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs, ys, Xt = split.X_source, split.y_source, split.X_target
        K = split.n_classes
        model = self._base().fit(Xs, ys)
        if not (hasattr(model, "predict_proba") or hasattr(model, "decision_function")):
            raise ValueError(
                f"SelfTraining: the estimator {type(model).__name__} has neither predict_proba nor "
                "decision_function; the confidence of a pseudo-label cannot be computed."
            )
        n_t = Xt.shape[0]
        labels = np.full(n_t, MASKED, dtype=int)
        self.history_ = []
        self.n_iter_ = 1
        self.termination_condition_ = "no_target" if n_t == 0 else "max_iter"
        conf = np.zeros(n_t)
        for it in range(1, self.max_iter + 1):
            if n_t == 0:
                break
            P = prediction_confidence(model, Xt, K)
            conf, pred = P.max(axis=1), P.argmax(axis=1)
            if self.reassign:
                quota = None if self.k_best is None else self.k_best * it
                sel = self._select(conf, pred, np.ones(n_t, bool), quota, K)
                new = np.where(sel, pred, MASKED)
            else:
                unl = labels == MASKED
                if not np.any(unl):
                    self.termination_condition_ = "all_labeled"
                    break
                sel = self._select(conf, pred, unl, self.k_best, K)
                new = labels.copy()
                new[sel] = pred[sel]
            if np.array_equal(new, labels):
                self.termination_condition_ = "no_change"
                break
            had, has = labels != MASKED, new != MASKED
            self.history_.append({
                "iteration": it,
                "n_pseudo_labeled": int(has.sum()),
                "n_added": int((has & ~had).sum()),
                "n_removed": int((had & ~has).sum()),
                "n_changed": int((had & has & (labels != new)).sum()),
                "mean_confidence": float(conf.mean()),
                "class_counts": np.bincount(new[has], minlength=K).tolist(),
            })
            labels = new
            rows = np.flatnonzero(has)
            model = self._base().fit(_vstack(Xs, Xt[rows]), np.concatenate([ys, labels[rows]]))
            self.n_iter_ = it + 1
        else:
            if n_t and self.max_iter > 0:
                conf = prediction_confidence(model, Xt, K).max(axis=1)
        self.estimator_ = model
        self.pseudo_labels_ = labels
        self.confidence_ = conf

    def selection_protocol(self) -> str:
        """That of the base estimator (``"none"`` for the default logistic regression)."""
        return "none" if self.estimator is None else estimator_selection(self.estimator)

    def _predict_encoded(self, X):
        return np.asarray(self.estimator_.predict(X)).astype(int)

    @available_if(lambda self: self.estimator is None or hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X, *, sample_domain=None):
        """Class probabilities of the last round's classifier."""
        X = self._validate_predict_X(X, sample_domain)
        return prediction_confidence(self.estimator_, X, len(self.classes_))
