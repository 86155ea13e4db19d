"""Raw-text datasets for clustering documents by topic (the unsupervised text benchmarks).

Two single-domain datasets whose ``X_target`` is a 1-D object array of ``str`` (for a text
representation: TF-IDF + LSA, or a sentence encoder such as the ``all_minilm_l6_v2`` backbone) and whose
``y_target`` is the topic a clustering should recover. There is no source split (``X_source`` is
``None``; the unsupervised protocol only reads ``X_target`` / ``y_target``) and the test split is the
target itself (the same objects).

- ``amazon_domains``: the 8000 labelled Amazon reviews of ``amazon_text`` grouped by product domain
  (books, dvd, electronics, kitchen).
- ``newsgroups_topics``: the 20 Newsgroups "bydate" posts grouped by their top-level category (the part
  of the newsgroup name before the first dot), headers, signature blocks and quoted lines stripped as
  scikit-learn's ``fetch_20newsgroups(remove=("headers", "footers", "quotes"))`` does.

Both have a subsample option (``n_per_domain`` / ``n_per_category``) with a fixed seed, to bound the
cost of encoding the documents with a transformer on a few CPU cores.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from .._errors import ConfigError, DataFileError
from ._core import Dataset, TaskSpec, register_dataset
from ._files import REMOTE_FILES, check_member_name
from ._real import _TEXT_DOMAINS, _key, _text_domain

__all__ = ["AMAZON_DOMAINS", "NEWSGROUPS_TOP_CATEGORIES", "NEWSGROUPS_DEFAULT_CATEGORIES"]


def _check_subsample(dataset: str, option: str, value, upper: int | None, what: str) -> int | None:
    """``None`` or an int in ``[1, upper]`` (``upper=None``: no upper bound); else a ConfigError."""
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer)) and int(value) >= 1
    if ok and upper is not None:
        ok = int(value) <= upper
    if not ok:
        allowed = f"an int in [1, {upper}]" if upper is not None else "an int >= 1"
        raise ConfigError(
            f"{dataset}: {option} must be {allowed} (the number of documents kept per {what}, a fixed seeded draw) "
            f"or null (all documents), got {value!r}."
        )
    return int(value)


def _draw(n_rows: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_rows`` rows: ``RandomState(seed).permutation(n_rows)[:n]`` (all if None).

    The first ``n`` of one fixed permutation, so a smaller draw is a subset of a larger one.
    """
    if n is None or n >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.RandomState(seed).permutation(n_rows)[:n])


def _text_array(texts) -> np.ndarray:
    X = np.empty(len(texts), dtype=object)
    X[:] = list(texts)
    return X


def _clustering_task(X, y, **meta) -> dict:
    """Single-domain: no source; the test split is the target (the same objects)."""
    return {"X_source": None, "y_source": None, "X_target": X, "y_target": y, "X_test": X, "y_test": y,
            "n_classes": len(meta["classes"]), "meta": {"n_classes": len(meta["classes"]), **meta}}


# ----------------------------------------------------------------------------------------------------
# Amazon reviews by product domain
# ----------------------------------------------------------------------------------------------------

#: label i = AMAZON_DOMAINS[i]
AMAZON_DOMAINS = tuple(_TEXT_DOMAINS.values())  # books, dvd, electronics, kitchen
_AMAZON_PER_DOMAIN = 2000


def _load_amazon_domains(spec: TaskSpec, fetch, n_per_domain: int | None = None) -> dict:
    n = _check_subsample("amazon_domains", "n_per_domain", n_per_domain, _AMAZON_PER_DOMAIN, "domain")
    texts, labels, sentiment = [], [], []
    for d, letter in enumerate(_TEXT_DOMAINS):
        X, y = _text_domain(fetch, letter)  # 1000 negative then 1000 positive reviews
        keep = _draw(len(X), n, seed=d)
        texts.extend(X[keep])
        labels.append(np.full(keep.size, d, dtype=np.int64))
        sentiment.append(y[keep])
    return _clustering_task(
        _text_array(texts), np.concatenate(labels), classes=list(AMAZON_DOMAINS), n_per_domain=n,
        sentiment=np.concatenate(sentiment),
        subsample="all reviews" if n is None else
        f"{n} per domain: numpy RandomState(d).permutation(2000)[:{n}], sorted, d = domain index 0..3",
    )


register_dataset(
    Dataset(
        name="amazon_domains",
        description=(
            "Amazon reviews (Blitzer et al. 2007) as raw text, to be clustered by product domain: the 4 x 2000 "
            "labelled reviews of amazon_text (1000 negative + 1000 positive per domain, title and body on one "
            "line), X a 1-D array of str, y = domain index 0 books, 1 dvd, 2 electronics, 3 kitchen (meta "
            "'sentiment' keeps 0 negative / 1 positive per row). Task 'all_domains': target = test = all rows, no "
            "source (unsupervised protocol). Option n_per_domain (default null = all 2000, 8000 rows in all): keep "
            "that many reviews per domain, the first n of numpy RandomState(d).permutation(2000) for domain d = "
            "0..3, in file order (a smaller draw is a subset of a larger one). The raw data repeats some reviews "
            "(1-2% per domain, none across domains); they are kept."
        ),
        tasks={"all_domains": TaskSpec("all_domains", None, "books+dvd+electronics+kitchen",
                                       "cluster the reviews of the 4 domains by domain (4 x 2000)")},
        default_preprocess="none",
        files=[REMOTE_FILES[f"amazon_reviews_text/{d}_{p}.parsed.gz"] for d in AMAZON_DOMAINS for p in ("negative", "positive")],
        citation=(
            "J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, boom-boxes and blenders: domain adaptation "
            "for sentiment classification. ACL 2007. Text files: github.com/yftah89/PBLM-Domain-Adaptation."
        ),
        n_classes=len(AMAZON_DOMAINS),
        loader=_load_amazon_domains,
        options={"n_per_domain": None},
    )
)

# ----------------------------------------------------------------------------------------------------
# 20 Newsgroups by top-level category
# ----------------------------------------------------------------------------------------------------

_NEWS_FILE = REMOTE_FILES["20newsgroups/20news-bydate.tar.gz"]
_NEWS_SPLITS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
#: documents per split in the standard bydate archive (= scikit-learn's fetch_20newsgroups)
_NEWS_COUNTS = {"train": 11314, "test": 7532}
#: the top-level categories (the newsgroup name before the first dot), in label order
NEWSGROUPS_TOP_CATEGORIES = ("alt", "comp", "misc", "rec", "sci", "soc", "talk")
#: the default selection: the four top categories made of several newsgroups
NEWSGROUPS_DEFAULT_CATEGORIES = ("comp", "rec", "sci", "talk")
_CATEGORY_SEP = re.compile(r"[+,\s]+")


@functools.lru_cache(maxsize=2)
def _read_20news(key: tuple[str, int, int]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Every post of the bydate tar, stripped as ``fetch_20newsgroups(remove=("headers", "footers", "quotes"))``.

    Read member by member from the gzip stream (nothing is extracted), decoded as latin-1 (as
    scikit-learn's ``load_files(..., encoding="latin1")``), then ``strip_newsgroup_header``,
    ``strip_newsgroup_footer`` and ``strip_newsgroup_quoting`` in that order. Sorted by member name
    (train before test, then newsgroup and file name as strings: the order of ``load_files`` before its
    shuffle).

    Returns
    -------
    splits, groups, texts : tuples of str
        Per post: ``"train"`` / ``"test"``, the newsgroup (e.g. ``"comp.graphics"``), the stripped text.
    """
    import tarfile

    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    path = Path(key[0])
    hint = f"Delete it and obtain it again: {_NEWS_FILE.note}"
    split_of = {v: k for k, v in _NEWS_SPLITS.items()}
    posts = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:  # sequential: no seeking back in the gzip stream
                if not member.isfile():  # links, devices, directories: never read
                    continue
                check_member_name(member.name, path)
                parts = member.name.split("/")
                if len(parts) != 3 or parts[0] not in split_of or parts[1].split(".")[0] not in NEWSGROUPS_TOP_CATEGORIES:
                    raise DataFileError(f"Unexpected member {member.name!r} in {path}: not the 20news-bydate layout. {hint}")
                posts.append((member.name, split_of[parts[0]], parts[1], tar.extractfile(member).read().decode("latin-1")))
    except DataFileError:
        raise
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise DataFileError(f"Cannot read the 20 Newsgroups archive {path}: {exc}. {hint}") from exc
    counts = {s: sum(p[1] == s for p in posts) for s in _NEWS_SPLITS}
    n_groups = len({p[2] for p in posts})
    if counts != _NEWS_COUNTS or n_groups != 20:
        raise DataFileError(
            f"{path} holds {counts} documents in {n_groups} newsgroups; the bydate archive has {_NEWS_COUNTS} in 20. {hint}"
        )
    order = list(_NEWS_SPLITS)
    posts.sort(key=lambda p: (order.index(p[1]), p[0]))
    texts = tuple(strip_newsgroup_quoting(strip_newsgroup_footer(strip_newsgroup_header(p[3]))) for p in posts)
    return tuple(p[1] for p in posts), tuple(p[2] for p in posts), texts


def _parse_categories(categories) -> tuple[str, ...]:
    """The selected top categories in label (alphabetical) order; a ConfigError for a bad value."""
    allowed = "+".join(NEWSGROUPS_TOP_CATEGORIES)
    usage = (
        f"newsgroups_topics: categories must be 'all' or at least 2 of the top categories {allowed} joined by '+' "
        f"(or ','), e.g. '{'+'.join(NEWSGROUPS_DEFAULT_CATEGORIES)}' (the default)"
    )
    if isinstance(categories, str):
        names = [c for c in _CATEGORY_SEP.split(categories.strip().lower()) if c]
        if names == ["all"]:
            return NEWSGROUPS_TOP_CATEGORIES
    elif isinstance(categories, (list, tuple)) and all(isinstance(c, str) for c in categories):
        names = [c.strip().lower() for c in categories]
    else:
        raise ConfigError(f"{usage}; got {categories!r}.")
    unknown = [c for c in names if c not in NEWSGROUPS_TOP_CATEGORIES]
    if unknown:
        raise ConfigError(f"{usage}; got {categories!r} (unknown: {', '.join(map(repr, unknown))}).")
    chosen = tuple(c for c in NEWSGROUPS_TOP_CATEGORIES if c in names)
    if len(chosen) < 2:
        raise ConfigError(f"{usage}; got {categories!r}, fewer than 2 categories to cluster.")
    return chosen


def _load_newsgroups_topics(
    spec: TaskSpec,
    fetch,
    categories="+".join(NEWSGROUPS_DEFAULT_CATEGORIES),
    n_per_category: int | None = None,
    drop_empty: bool = True,
) -> dict:
    chosen = _parse_categories(categories)
    n = _check_subsample("newsgroups_topics", "n_per_category", n_per_category, None, "top category")
    if not isinstance(drop_empty, (bool, np.bool_)):
        raise ConfigError(f"newsgroups_topics: drop_empty must be true or false, got {drop_empty!r}.")
    splits, groups, texts = _read_20news(_key(fetch(_NEWS_FILE)))
    wanted = spec.params["splits"]
    top = np.array([g.split(".", 1)[0] for g in groups])
    in_split = np.isin(np.array(splits), wanted)
    empty = np.array([not t.strip() for t in texts])
    rows, labels, n_empty = [], [], 0
    for c, name in enumerate(chosen):
        pool = np.flatnonzero(in_split & (top == name))
        if drop_empty:
            n_empty += int(empty[pool].sum())
            pool = pool[~empty[pool]]
        keep = pool[_draw(pool.size, n, seed=NEWSGROUPS_TOP_CATEGORIES.index(name))]
        rows.append(keep)
        labels.append(np.full(keep.size, c, dtype=np.int64))
    idx = np.concatenate(rows)
    return _clustering_task(
        _text_array([texts[i] for i in idx]), np.concatenate(labels), classes=list(chosen),
        categories="+".join(chosen), n_per_category=n, drop_empty=bool(drop_empty), n_empty_dropped=n_empty,
        newsgroup=np.array([groups[i] for i in idx]), split=np.array([splits[i] for i in idx]),
        subsample="all documents" if n is None else
        f"at most {n} per top category: numpy RandomState(i).permutation(n_docs)[:{n}], sorted, i = the category's "
        f"index in {'+'.join(NEWSGROUPS_TOP_CATEGORIES)}",
    )


register_dataset(
    Dataset(
        name="newsgroups_topics",
        description=(
            "20 Newsgroups 'bydate' (Lang 1995; 11 314 train / 7 532 test posts) as raw text, to be clustered by "
            "top-level category, the newsgroup name before the first dot: alt (1 newsgroup), comp (5), misc (1), rec "
            "(4), sci (4), soc (1), talk (4). Read straight from 20news-bydate.tar.gz (latin-1), headers, signature "
            "blocks and quoted lines stripped with scikit-learn's strip_newsgroup_header / _footer / _quoting (= "
            "fetch_20newsgroups(remove=('headers', 'footers', 'quotes'))). X a 1-D array of str, y = index of the "
            "top category among the selected ones in alphabetical order (meta 'classes'; meta 'newsgroup' keeps each "
            "post's newsgroup). Tasks 'train', 'test', 'all' (train then test): target = test = those posts, no "
            "source (unsupervised protocol). Options: categories (default 'comp+rec+sci+talk'; 'all' = the 7; any "
            "2+ of them joined by '+'): the default keeps the four top categories made of several newsgroups, each "
            "a broad topic with sub-topics, the four of the cross-domain 20 Newsgroups protocols (Dai et al. 2007), "
            "fairly balanced (train 2936 / 2389 / 2373 / 1952); alt, misc and soc are single newsgroups, and "
            "alt.atheism, soc.religion.christian and talk.religion.misc split one topic (religion) over three top "
            "categories, so the 7-way labels are partly not topical. drop_empty (default true): drop the posts "
            "left empty (whitespace only) by the stripping (300 of train, 215 of test over the 7 categories; "
            "scikit-learn keeps them): they carry no topic, and a representation cannot place them. n_per_category "
            "(default null = all): keep at most that many posts per top category (after drop_empty), the first n "
            "of numpy RandomState(i).permutation(n_docs) for the category of index i in alt..talk, in file order (a "
            "category's draw does not depend on the other selected ones; a smaller draw is a subset of a larger "
            "one). Parsed posts are cached in memory per process (reading the 14 MB archive takes about 2 s)."
        ),
        tasks={
            "train": TaskSpec("train", None, "20news-bydate-train", "the bydate training posts (11 314 over the 7 categories)",
                              {"splits": ["train"]}),
            "test": TaskSpec("test", None, "20news-bydate-test", "the bydate test posts (7 532 over the 7 categories)",
                             {"splits": ["test"]}),
            "all": TaskSpec("all", None, "20news-bydate", "train then test posts (18 846 over the 7 categories)",
                            {"splits": ["train", "test"]}),
        },
        default_preprocess="none",
        files=[_NEWS_FILE],
        citation=(
            "K. Lang. NewsWeeder: learning to filter netnews. ICML 1995. W. Dai, G.-R. Xue, Q. Yang, Y. Yu. "
            "Co-clustering based classification for out-of-domain documents. KDD 2007 (the top-category protocol)."
        ),
        n_classes=len(NEWSGROUPS_DEFAULT_CATEGORIES),
        loader=_load_newsgroups_topics,
        options={"categories": "+".join(NEWSGROUPS_DEFAULT_CATEGORIES), "n_per_category": None, "drop_empty": True},
    )
)
