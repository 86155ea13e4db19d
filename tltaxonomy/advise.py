"""``tltax advise``: diagnostics of a task's domains and a reasoned recommendation of what to try.

Only the labelled source rows and the *unlabelled* target rows are used: the advice never looks at
target labels, so it can be followed honestly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .diagnostics import coral_distance, label_shift_weights, mmd2, proxy_a_distance

__all__ = ["Advice", "advise", "domain_divergence"]

#: thresholds of the rules (proxy A-distance is in [0, 2])
_PAD_CLOSE, _PAD_FAR = 0.5, 1.5
_LABEL_SHIFT = 0.3  # max |w_y - 1| above which the class proportions are said to differ ...
_PVALUE = 0.01  # ... when the chi-square test of the predicted proportions also rejects equality


@dataclass
class Advice:
    """What :func:`advise` measured and recommends."""

    task: str
    diagnostics: dict = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"Task {self.task} (diagnostics from the labelled source and the unlabelled target; no target labels)", ""]
        for name, value in self.diagnostics.items():
            text = np.array2string(np.asarray(value), precision=2) if isinstance(value, (list, np.ndarray)) else (
                f"{value:.4g}" if isinstance(value, float) else str(value))
            lines.append(f"  {name:<28} {text}")
        lines += ["", "Recommendation:"] + [f"  - {r}" for r in self.recommendations]
        return "\n".join(lines) + "\n"


def _dense_view(X, max_rows: int, rng) -> np.ndarray:
    rows = rng.choice(X.shape[0], min(max_rows, X.shape[0]), replace=False)
    X = X[np.sort(rows)]
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def _standardised_per_domain(Xs, Xt, tol: float = 1e-6) -> bool:
    """Whether both domains' features already have mean 0 and variance 1 (a per-domain z-score, as the
    SURF papers' ``l1_zscore``): then first-order domain differences are gone by construction."""
    if sp.issparse(Xs) or sp.issparse(Xt):
        return False
    Xs, Xt = np.asarray(Xs, dtype=np.float64), np.asarray(Xt, dtype=np.float64)
    Xs, Xt = Xs.reshape(Xs.shape[0], -1), Xt.reshape(Xt.shape[0], -1)
    for X in (Xs, Xt):
        std = X.std(axis=0)
        live = std > tol  # constant features (std 0) stay 0 under a z-score
        if not (np.allclose(X.mean(axis=0), 0.0, atol=tol) and np.allclose(std[live], 1.0, atol=1e-3)):
            return False
    return True


def _is_text(X) -> bool:
    return isinstance(X, (list, tuple)) or getattr(X, "dtype", None) == object


def domain_divergence(X_source, X_target, *, random_state: int = 0, max_rows: int = 2000, max_dims: int = 256) -> dict:
    """Proxy A-distance, Gaussian MMD² and CORAL distance between two domains' rows (no labels).

    At most ``max_rows`` rows per domain (a seeded subsample); above ``max_dims`` features, the
    measures run on a truncated SVD of the pooled rows to ``max_dims`` components. This is what
    :func:`advise` reports and what ``tltax bench --divergence`` prints beside each task.

    Raises
    ------
    TypeError
        If the rows are raw text (an object array): embed them first.
    """
    from sklearn.decomposition import TruncatedSVD

    if _is_text(X_source) or _is_text(X_target):
        raise TypeError("domain_divergence: the rows hold text; embed them first "
                        "(e.g. LinearProbe(backbone='all_minilm_l6_v2').transform).")
    rng = np.random.default_rng(random_state)
    Xs = _dense_view(X_source, max_rows, rng)
    Xt = _dense_view(X_target, max_rows, rng)
    Xs, Xt = Xs.reshape(Xs.shape[0], -1), Xt.reshape(Xt.shape[0], -1)
    if Xs.shape[1] > max_dims:
        svd = TruncatedSVD(max_dims, random_state=random_state).fit(np.vstack([Xs, Xt]))
        Xs, Xt = svd.transform(Xs), svd.transform(Xt)
    return {
        "proxy_a_distance": float(proxy_a_distance(Xs, Xt, random_state=random_state)),
        "mmd2": float(mmd2(Xs, Xt, random_state=random_state)),
        "coral_distance": float(coral_distance(Xs, Xt)),
    }


def advise(task, *, random_state: int = 0, max_rows: int = 2000, max_dims: int = 256) -> Advice:
    """Measure how far a task's domains are apart and recommend strategy families.

    Parameters
    ----------
    task : TaskData
        From :func:`~tltaxonomy.datasets.load_task`.
    random_state : int, default=0
        Seed of the subsampling, the folds and the source split.
    max_rows : int, default=2000
        Rows per domain used by the diagnostics (subsampled).
    max_dims : int, default=256
        Above this many features, the diagnostics run on a PCA (truncated SVD for sparse input) of the
        pooled rows to this many components.

    Returns
    -------
    Advice
        ``diagnostics`` (proxy A-distance, MMD², CORAL distance, estimated target class proportions
        and label-shift weights) and ``recommendations`` (sentences with the reason).
    """
    name = f"{task.dataset}/{task.task}"
    if task.X_source is None:
        return Advice(name, {"n_target": int(task.X_target.shape[0])}, [
            "single-domain task (no source data): transfer comes from a pretrained model — try linear_probe first, "
            "then lp_ft / l2sp / finetune (with freeze_bn for batch-norm networks when batches are small), and rank "
            "candidate backbones by tltaxonomy.transferability.logme on a few labelled rows; compare with scratch "
            "(or tfidf_logistic for text).",
        ])
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if _is_text(task.X_source) or _is_text(task.X_target):
        raise ValueError(
            f"advise: {name} holds text; embed it first (e.g. LinearProbe(backbone='all_minilm_l6_v2').transform)."
        )
    div = domain_divergence(task.X_source, task.X_target, random_state=random_state, max_rows=max_rows,
                            max_dims=max_dims)
    pad = div["proxy_a_distance"]
    d = task.X_source.shape[1]
    diag = {
        "n_source / n_target": f"{task.X_source.shape[0]} / {task.X_target.shape[0]}",
        "features": d if d <= max_dims else f"{d} (diagnostics on {max_dims} SVD components)",
        "proxy A-distance": pad,
        "MMD^2 (Gaussian, median h)": div["mmd2"],
        "CORAL distance": div["coral_distance"],
    }
    # label shift: a source classifier's confusion on held-out source rows and its target predictions
    ys = np.asarray(task.y_source)
    _, ys_enc = np.unique(ys, return_inverse=True)
    Xfit, Xho, yfit, yho = train_test_split(
        task.X_source, ys_enc, test_size=0.3, random_state=random_state, stratify=ys_enc)
    clf = make_pipeline(StandardScaler(with_mean=not sp.issparse(Xfit)), LogisticRegression(max_iter=2000)).fit(Xfit, yfit)
    k = int(ys_enc.max()) + 1
    w = label_shift_weights(yho, clf.predict(Xho), clf.predict(task.X_target), n_classes=k)
    prior_s = np.bincount(ys_enc, minlength=k) / ys_enc.size
    diag["source class proportions"] = prior_s
    diag["target proportions (est.)"] = w * prior_s / max(float(np.sum(w * prior_s)), 1e-12)
    diag["label-shift weights (est.)"] = w
    # do the source classifier's predicted class proportions differ between held-out source and target?
    from scipy.stats import chisquare

    p_ho = (np.bincount(clf.predict(Xho), minlength=k) + 0.5) / (len(yho) + 0.5 * k)
    counts_t = np.bincount(clf.predict(task.X_target), minlength=k)
    pvalue = float(chisquare(counts_t, p_ho / p_ho.sum() * counts_t.sum()).pvalue)
    diag["pred. proportions differ (p)"] = pvalue
    recs = []
    shifted_labels = pvalue < _PVALUE and float(np.max(np.abs(w - 1.0))) > _LABEL_SHIFT
    if pad < _PAD_CLOSE and _standardised_per_domain(task.X_source, task.X_target):
        recs.append(f"each domain is standardised on its own (every feature has mean 0 and variance 1 in both), so a "
                    f"linear domain classifier has nothing to find (proxy A-distance {pad:.2f}); the covariances still "
                    f"differ (CORAL distance {div['coral_distance']:.3g}): second-order aligners (coral, sa, gfk) can "
                    "still help — compare them with source_only.")
    elif pad < _PAD_CLOSE:
        recs.append(f"the domains are hard to tell apart (proxy A-distance {pad:.2f} < {_PAD_CLOSE}): a source-only "
                    "model is a strong baseline and adaptation has little room; compare with source_only first.")
    elif pad > _PAD_FAR:
        recs.append(f"the domains are easy to tell apart (proxy A-distance {pad:.2f} > {_PAD_FAR}): feature alignment "
                    "should help — coral and sa/gfk (shallow), tca/jda (kernel, class-conditional), dann/cdan/mcc "
                    "(deep); report source_only beside them to catch negative transfer.")
    else:
        recs.append(f"moderate shift (proxy A-distance {pad:.2f}): try the cheap aligners first (coral, sa) against "
                    "source_only, then jda or a deep method if they help.")
    if shifted_labels:
        recs.append(f"the source classifier predicts other class proportions on the target (chi-square p={pvalue:.1g}; "
                    f"label-shift weights {np.round(w, 2).tolist()}): either the classes are mixed differently (label "
                    "shift: marginal alignment such as coral, tca or dann can then hurt; prefer class-aware methods — "
                    "jda, cdan, self_training — or reweight the source classes by these weights) or the shift moves "
                    "points across the decision boundary (the weights are then not valid; alignment is the remedy).")
    return Advice(name, diag, recs)
