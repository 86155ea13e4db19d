"""The no-transfer baseline of text tasks: TF-IDF features + logistic regression on the labelled rows."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones import is_text
from ..base import BaseInductiveClassifier, _check_sample_domain
from ..registry import register

__all__ = ["TfidfLogistic"]


@register("tfidf_logistic", setting="inductive", family="fine_tuning")
class TfidfLogistic(BaseInductiveClassifier):
    r"""TF-IDF + logistic regression trained on the labelled target texts only (no transfer).

    The vocabulary, the IDF weights and the classifier all come from the labelled rows ``fit``
    receives, so with ``n`` labels it is exactly what a practitioner without a pretrained model would
    train on those ``n`` texts: the baseline that text transfer (a sentence encoder's linear probe or
    fine-tuning) must beat. Minimises, over the L2-normalised TF-IDF vectors :math:`\phi(x)`,

    .. math:: \frac{1}{2}\|w\|^2 + C \sum_i \log\big(1 + e^{-y_i (w^\top \phi(x_i) + b)}\big).

    Parameters
    ----------
    ngram_range : tuple of int, default=(1, 2)
        Word n-grams (unigrams and bigrams, as in Blitzer et al.'s features).
    min_df : int, default=1
        Terms in fewer labelled texts are dropped.
    max_features : int or None, default=None
        Keep the most frequent terms only.
    sublinear_tf : bool, default=True
        ``1 + log(tf)`` term frequencies.
    lowercase : bool, default=True
    C : float, default=1.0
        Inverse L2 regularisation strength (the linear probe's default too).
    max_iter : int, default=1000
    random_state : int or None, default=None
        Seed of the solver.

    Attributes
    ----------
    classes_ : ndarray
        Label values seen in ``fit``.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted vectoriser and classifier.
    vocabulary_size_ : int
        Terms in the fitted vocabulary.

    Examples
    --------
    >>> X = ["great book, loved it", "awful, boring and slow", "loved it, great", "boring, awful plot"]
    >>> clf = TfidfLogistic(random_state=0).fit(X, ["pos", "neg", "pos", "neg"])
    >>> clf.predict(["a great read, loved it"]).tolist()
    ['pos']
    """

    _parameter_constraints = {
        "ngram_range": [tuple, list],
        "min_df": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "sublinear_tf": ["boolean"],
        "lowercase": ["boolean"],
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        C: float = 1.0,
        max_iter: int = 1000,
        random_state: int | None = None,
    ):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a sequence of documents, like sklearn's text vectorisers
        tags.input_tags.string = True
        return tags

    def _texts(self, X) -> list[str]:
        if not is_text(X):
            raise ValueError(
                f"{type(self).__name__} takes text: a list or 1-D array of str, got {type(X).__name__}"
                f"{'' if not hasattr(X, 'shape') else f' of shape {X.shape}'}; e.g. dataset=amazon_text."
            )
        return [str(x) for x in X]

    def fit(self, X, y, *, sample_domain=None) -> TfidfLogistic:
        """Fit the vectoriser and the classifier on the labelled texts ``X``, ``y``."""
        self._validate_params()
        texts = self._texts(X)
        _check_sample_domain(self, sample_domain, len(texts))
        y_enc = self._encode_labels(y, len(texts))
        lo, hi = (int(v) for v in self.ngram_range)
        if not 1 <= lo <= hi:
            raise ValueError(f"{type(self).__name__}: ngram_range must be (min_n, max_n) with 1 <= min_n <= max_n, got {self.ngram_range!r}.")
        self.pipeline_ = make_pipeline(
            TfidfVectorizer(ngram_range=(lo, hi), min_df=self.min_df, max_features=self.max_features,
                            sublinear_tf=self.sublinear_tf, lowercase=self.lowercase),
            LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state),
        )
        try:
            self.pipeline_.fit(texts, y_enc)
        except ValueError as exc:  # e.g. "empty vocabulary" when every text is stop words / empty
            raise ValueError(f"{type(self).__name__}: cannot build a vocabulary from the {len(texts)} labelled texts ({exc}).") from None
        self.vocabulary_size_ = len(self.pipeline_[0].vocabulary_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        return self.pipeline_.predict_proba(self._texts(X))

    def predict(self, X) -> np.ndarray:
        """Predicted labels (the values given to ``fit``)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
