"""Synthetic domain-shift datasets (no files): rotated moons and Gaussian covariate / label shift."""

from __future__ import annotations

import re

import numpy as np

from ._core import Dataset, TaskSpec, register_dataset

__all__ = ["make_rotated_moons", "make_gaussian_shift", "GAUSSIAN_SHIFT_DEFAULTS"]


def _rotation(angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def make_rotated_moons(n_samples: int = 300, angle: float = 35.0, noise: float = 0.05, random_state: int = 1):
    """Inter-twinning moons with a rotated target domain (the toy problem of DANN).

    The source sample is ``sklearn.datasets.make_moons(n_samples, noise=noise, random_state=random_state)``
    and the target sample an independent draw with ``random_state + 1``. Both are centred on the *source*
    mean and scaled by 2, then the target is rotated by ``angle`` degrees (counter-clockwise) about the
    origin (= the source mean).

    Parameters
    ----------
    n_samples : int, default=300
        Points per domain (half per moon). The DANN paper uses 150 points per moon, i.e. 300.
    angle : float, default=35
        Rotation of the target domain in degrees.
    noise : float, default=0.05
        Standard deviation of the Gaussian noise of ``make_moons``.
    random_state : int, default=1
        Seed of the source draw; the target uses ``random_state + 1``.

    Returns
    -------
    X_source : ndarray of shape (n_samples, 2)
    y_source : ndarray of shape (n_samples,), int64
        0 = upper moon, 1 = lower moon (as ``make_moons``).
    X_target : ndarray of shape (n_samples, 2)
    y_target : ndarray of shape (n_samples,), int64

    References
    ----------
    Y. Ganin et al. Domain-adversarial training of neural networks. JMLR 17(59), 2016, sec. 5.1.1.
    """
    from sklearn.datasets import make_moons

    Xs, ys = make_moons(n_samples, noise=noise, random_state=random_state)
    Xt, yt = make_moons(n_samples, noise=noise, random_state=random_state + 1)
    mean = Xs.mean(axis=0)
    Xs = 2.0 * (Xs - mean)
    Xt = 2.0 * (Xt - mean)
    Xt = Xt @ _rotation(angle).T
    return Xs, ys.astype(np.int64), Xt, yt.astype(np.int64)


#: Parameters of :func:`make_gaussian_shift` (and of the ``gaussian_shift`` dataset).
GAUSSIAN_SHIFT_DEFAULTS = {
    "covariate": {
        "mean_source": (0.0, 0.0),
        "cov_source": ((1.0, 0.0), (0.0, 1.0)),
        "mean_target": (1.5, 1.0),
        "cov_target": ((0.5, 0.2), (0.2, 0.5)),
        # shared labelling rule p(y|x): y = 1 iff x1 > 0.5 * x0**2 - 0.5
        "rule": "y = 1 if x1 > 0.5 * x0**2 - 0.5 else 0",
    },
    "label": {
        "class_means": ((-1.0, 0.0), (1.0, 0.0)),
        "class_cov": ((1.0, 0.0), (0.0, 1.0)),
        "priors_source": (0.8, 0.2),
        "priors_target": (0.2, 0.8),
    },
}


def _covariate_labels(X: np.ndarray) -> np.ndarray:
    return (X[:, 1] > 0.5 * X[:, 0] ** 2 - 0.5).astype(np.int64)


def _class_counts(n: int, priors) -> np.ndarray:
    counts = np.floor(np.asarray(priors, dtype=float) * n).astype(int)
    counts[np.argmax(priors)] += n - counts.sum()
    return counts


def make_gaussian_shift(
    kind: str = "covariate",
    *,
    n_source: int = 500,
    n_target: int = 500,
    n_test: int = 1000,
    random_state: int = 0,
):
    """Two-dimensional Gaussian data with a covariate shift or a label (prior) shift.

    ``kind='covariate'``: ``x ~ N(mean_source, cov_source)`` in the source and ``N(mean_target,
    cov_target)`` in the target (see :data:`GAUSSIAN_SHIFT_DEFAULTS`), with the same deterministic labelling
    rule ``y = 1[x1 > 0.5 x0^2 - 0.5]`` in both domains: ``p(y|x)`` is shared, only ``p(x)`` moves, so
    importance weighting (Shimodaira 2000) and feature alignment can help a misspecified (e.g. linear)
    model.

    ``kind='label'``: class-conditional Gaussians ``x | y=k ~ N(class_means[k], I)`` shared by both domains,
    with class priors 0.8 / 0.2 in the source and 0.2 / 0.8 in the target: ``p(x|y)`` is shared, only
    ``p(y)`` moves (Saerens et al. 2002; Lipton et al. 2018). Class counts are exact
    (``floor(prior * n)``, the remainder to the majority class), rows are shuffled.

    Parameters
    ----------
    kind : {'covariate', 'label'}
    n_source, n_target, n_test : int
        Sizes of the source, target and test samples; the test sample is a fresh draw from the target
        distribution.
    random_state : int, default=0
        Seed of the :class:`numpy.random.Generator`.

    Returns
    -------
    X_source, y_source, X_target, y_target, X_test, y_test : ndarrays (float64 features, int64 labels)

    Raises
    ------
    ValueError
        For an unknown ``kind``.

    References
    ----------
    H. Shimodaira. Improving predictive inference under covariate shift by weighting the log-likelihood
    function. J. Stat. Plan. Inference 90(2), 2000. M. Saerens, P. Latinne, C. Decaestecker. Adjusting the
    outputs of a classifier to new a priori probabilities. Neural Computation 14(1), 2002. Z. Lipton,
    Y.-X. Wang, A. Smola. Detecting and correcting for label shift with black box predictors. ICML 2018.
    """
    rng = np.random.default_rng(random_state)
    if kind == "covariate":
        p = GAUSSIAN_SHIFT_DEFAULTS["covariate"]

        def draw(n, mean, cov):
            X = rng.multivariate_normal(mean, cov, size=n)
            return X, _covariate_labels(X)

        Xs, ys = draw(n_source, p["mean_source"], p["cov_source"])
        Xt, yt = draw(n_target, p["mean_target"], p["cov_target"])
        Xte, yte = draw(n_test, p["mean_target"], p["cov_target"])
        return Xs, ys, Xt, yt, Xte, yte
    if kind == "label":
        p = GAUSSIAN_SHIFT_DEFAULTS["label"]

        def draw(n, priors):
            y = np.repeat(np.arange(2), _class_counts(n, priors))
            y = y[rng.permutation(n)]
            means = np.asarray(p["class_means"])[y]
            X = means + rng.multivariate_normal(np.zeros(2), p["class_cov"], size=n)
            return X, y.astype(np.int64)

        Xs, ys = draw(n_source, p["priors_source"])
        Xt, yt = draw(n_target, p["priors_target"])
        Xte, yte = draw(n_test, p["priors_target"])
        return Xs, ys, Xt, yt, Xte, yte
    raise ValueError(f"Unknown kind {kind!r} for make_gaussian_shift; use 'covariate' or 'label'.")


# ----------------------------------------------------------------------------------------------------
# registry entries
# ----------------------------------------------------------------------------------------------------

_MOON_ANGLES = (10, 20, 30, 35, 40, 50, 70, 90)


def _moons_spec(angle: float, name: str, n_samples: int = 300) -> TaskSpec:
    return TaskSpec(
        name,
        "moons",
        f"moons rotated {angle:g} deg",
        f"Two moons, {n_samples} points per domain, target rotated by {angle:g} degrees; test = target.",
        {"angle": angle, "n_samples": n_samples},
    )


def _resolve_moons(task: str) -> TaskSpec | None:
    m = re.fullmatch(r"rotated_(-?\d+(?:\.\d+)?)(?:_n(\d+))?", task)
    if not m or (m.group(2) is not None and int(m.group(2)) < 4):
        return None
    return _moons_spec(float(m.group(1)), task, 300 if m.group(2) is None else int(m.group(2)))


def _load_moons(spec: TaskSpec, fetch) -> dict:
    n = int(spec.params.get("n_samples", 300))
    Xs, ys, Xt, yt = make_rotated_moons(n_samples=n, angle=spec.params["angle"])
    return {
        "X_source": Xs, "y_source": ys, "X_target": Xt, "y_target": yt, "X_test": Xt, "y_test": yt,
        "meta": {
            "angle": spec.params["angle"], "n_samples": n, "noise": 0.05, "random_state": {"source": 1, "target": 2},
        },
    }


register_dataset(
    Dataset(
        name="moons",
        description=(
            "The inter-twinning moons toy problem of DANN (Ganin et al. 2016, sec. 5.1.1): source = "
            "make_moons(300, noise=0.05, random_state=1) (150 points per moon), target = an independent draw "
            "(random_state=2) rotated by the task's angle; both centred on the source mean and scaled by 2. "
            "As in the paper the test set is the (unlabelled-in-training) target itself. Tasks rotated_<angle> "
            "(any angle in degrees, e.g. rotated_35) and rotated_<angle>_n<N> (N points per domain; "
            "rotated_35_n150 is the authors' experiments_moons.py: make_moons(150))."
        ),
        tasks={f"rotated_{a}": _moons_spec(float(a), f"rotated_{a}") for a in _MOON_ANGLES},
        default_preprocess="none",
        files=[],
        citation=(
            "Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, F. Laviolette, M. Marchand, "
            "V. Lempitsky. Domain-adversarial training of neural networks. JMLR 17(59), 2016."
        ),
        n_classes=2,
        loader=_load_moons,
        resolve_task=_resolve_moons,
    )
)


def _load_gaussian(spec: TaskSpec, fetch) -> dict:
    Xs, ys, Xt, yt, Xte, yte = make_gaussian_shift(spec.name)
    return {
        "X_source": Xs, "y_source": ys, "X_target": Xt, "y_target": yt, "X_test": Xte, "y_test": yte,
        "meta": {"params": GAUSSIAN_SHIFT_DEFAULTS[spec.name], "random_state": 0},
    }


register_dataset(
    Dataset(
        name="gaussian_shift",
        description=(
            "Two-dimensional Gaussian domain shift, 500 source / 500 target / 1000 test points (test = a fresh "
            "target draw), seed 0. Task 'covariate': shifted means and different covariances, shared labelling "
            "rule y = 1[x1 > 0.5 x0^2 - 0.5]. Task 'label': shared class-conditional Gaussians, class priors "
            "0.8/0.2 (source) vs 0.2/0.8 (target)."
        ),
        tasks={
            "covariate": TaskSpec("covariate", "Gaussian source", "Gaussian target", "covariate shift"),
            "label": TaskSpec("label", "priors 0.8/0.2", "priors 0.2/0.8", "label (prior) shift"),
        },
        default_preprocess="none",
        files=[],
        citation=(
            "H. Shimodaira. Improving predictive inference under covariate shift by weighting the log-likelihood "
            "function. J. Stat. Plan. Inference 90(2), 2000. Z. Lipton, Y.-X. Wang, A. Smola. Detecting and "
            "correcting for label shift with black box predictors. ICML 2018."
        ),
        n_classes=2,
        loader=_load_gaussian,
    )
)
