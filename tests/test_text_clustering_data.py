"""Tests of the raw-text clustering datasets amazon_domains and newsgroups_topics (real files)."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

import tltaxonomy.datasets._text_clustering as tc  # registers the two datasets
from tltaxonomy._errors import ConfigError, DataChecksumError, DataFileError, DataFileNotFoundError, UnknownNameError
from tltaxonomy.datasets import REMOTE_FILES, get_dataset, list_datasets, load_task
from tltaxonomy.datasets._real import _key

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NEWS_TAR = "20newsgroups/20news-bydate.tar.gz"
#: bydate posts per top category (alt, comp, misc, rec, sci, soc, talk) = scikit-learn's fetch_20newsgroups
TRAIN_COUNTS = [480, 2936, 585, 2389, 2373, 599, 1952]
TEST_COUNTS = [319, 1955, 390, 1590, 1579, 398, 1301]
#: posts left empty by the stripping, per top category
TRAIN_EMPTY = [12, 70, 8, 84, 61, 8, 57]
TEST_EMPTY = [8, 44, 8, 56, 56, 14, 29]


def _copy(path: str, root: Path) -> Path:
    if not (SHARED_DATA / path).is_file():
        pytest.skip(f"{SHARED_DATA / path} not found")
    dest = root / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED_DATA / path, dest)
    return dest


def _is_text_column(X, n):
    assert isinstance(X, np.ndarray) and X.dtype == object and X.shape == (n,)
    assert all(isinstance(x, str) for x in X)


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------


def test_registered_with_tasks_options_and_files():
    assert {"amazon_domains", "newsgroups_topics"} <= set(list_datasets())
    amazon = get_dataset("amazon_domains")
    assert list(amazon.tasks) == ["all_domains"] and amazon.n_classes == 4 and amazon.default_preprocess == "none"
    assert amazon.options == {"n_per_domain": None}
    assert sorted(f.path for f in amazon.files) == sorted(
        f"amazon_reviews_text/{d}_{p}.parsed.gz" for d in ("books", "dvd", "electronics", "kitchen")
        for p in ("negative", "positive")
    )
    news = get_dataset("newsgroups_topics")
    assert sorted(news.tasks) == ["all", "test", "train"] and news.default_preprocess == "none"
    assert news.options == {"categories": "comp+rec+sci+talk", "n_per_category": None, "drop_empty": True}
    assert news.files == [REMOTE_FILES[NEWS_TAR]]
    assert REMOTE_FILES[NEWS_TAR].sha256 == "0e49c202e05806a47ee46e06ef2507980dd289da710dda1b77559a26f0d213f4"
    assert all(spec.source is None for ds in (amazon, news) for spec in ds.tasks.values())


def test_configs_compose_with_the_dataset_defaults():
    from tltaxonomy.runner import compose_config

    for name in ("amazon_domains", "newsgroups_topics"):
        cfg = dict(compose_config([f"dataset={name}"]).dataset)
        ds = get_dataset(cfg.pop("name"))
        assert cfg.pop("preprocess") == ds.default_preprocess
        assert cfg == ds.options  # every option, with its default, and hashable (the runner caches on them)
        hash(tuple(sorted(cfg.items())))


# --------------------------------------------------------------------------------------------------
# amazon_domains
# --------------------------------------------------------------------------------------------------


def test_amazon_domains_all(shared_data):
    data = load_task("amazon_domains", "all_domains")
    _is_text_column(data.X_target, 8000)
    assert data.X_source is None and data.y_source is None
    assert data.X_test is data.X_target and data.y_test is data.y_target
    assert data.y_target.dtype == np.int64 and np.bincount(data.y_target).tolist() == [2000] * 4
    assert data.meta["classes"] == ["books", "dvd", "electronics", "kitchen"] and data.n_classes == 4
    sentiment = data.meta["sentiment"]
    for d in range(4):  # 1000 negative + 1000 positive per domain
        assert np.bincount(sentiment[data.y_target == d]).tolist() == [1000, 1000]
    # the same texts as amazon_text, domain by domain
    books = load_task("amazon_text", "B_to_D").X_source
    assert data.X_target[:2000].tolist() == books.tolist()
    with pytest.raises(ValueError, match="single-domain"):
        data.domain_adaptation_view()


def test_amazon_domains_subsample_is_seeded_balanced_and_nested(shared_data):
    a = load_task("amazon_domains", "all_domains", n_per_domain=100)
    b = load_task("amazon_domains", "all_domains", n_per_domain=100)
    small = load_task("amazon_domains", "all_domains", n_per_domain=40)
    _is_text_column(a.X_target, 400)
    assert np.bincount(a.y_target).tolist() == [100] * 4
    assert a.X_target.tolist() == b.X_target.tolist() and a.y_target.tolist() == b.y_target.tolist()
    full = load_task("amazon_domains", "all_domains")
    for d in range(4):
        mine = a.X_target[a.y_target == d].tolist()
        pool = full.X_target[full.y_target == d].tolist()
        expected = np.sort(np.random.RandomState(d).permutation(2000)[:100])  # the documented draw
        assert mine == [pool[i] for i in expected]
        assert set(small.X_target[small.y_target == d]) <= set(mine)  # a smaller draw is a subset
    assert a.meta["n_per_domain"] == 100 and "RandomState" in a.meta["subsample"]
    assert load_task("amazon_domains", "all_domains", n_per_domain=np.int64(2000)).X_target.shape == (8000,)


@pytest.mark.parametrize("bad", [0, -5, 2001, 1.5, "100", True])
def test_amazon_domains_bad_n_per_domain(bad):
    # checked before any file is read: no data directory needed
    with pytest.raises(ConfigError, match=r"amazon_domains: n_per_domain must be an int in \[1, 2000\].*or null"):
        load_task("amazon_domains", "all_domains", n_per_domain=bad)


def test_unknown_option_and_task_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="n_per_domain"):
        load_task("amazon_domains", "all_domains", n_per_category=10)
    with pytest.raises(UnknownNameError, match="Valid dataset options: categories, drop_empty, n_per_category"):
        load_task("newsgroups_topics", "train", n_per_domain=10)
    with pytest.raises(UnknownNameError, match="Did you mean 'train'"):
        load_task("newsgroups_topics", "trian")


# --------------------------------------------------------------------------------------------------
# newsgroups_topics
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task, counts", [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_newsgroups_bydate_counts_per_top_category(shared_data, task, counts):
    data = load_task("newsgroups_topics", task, categories="all", drop_empty=False)
    _is_text_column(data.X_target, sum(counts))
    assert data.meta["classes"] == ["alt", "comp", "misc", "rec", "sci", "soc", "talk"]
    assert np.bincount(data.y_target).tolist() == counts
    assert data.X_source is None and data.X_test is data.X_target and data.y_test is data.y_target
    assert len(set(data.meta["newsgroup"])) == 20
    assert all(g.split(".")[0] == data.meta["classes"][y] for g, y in zip(data.meta["newsgroup"], data.y_target))
    assert data.meta["n_classes"] == 7 and data.meta["n_empty_dropped"] == 0


def test_newsgroups_default_categories_drop_empty_posts(shared_data):
    data = load_task("newsgroups_topics", "train")
    assert data.meta["classes"] == ["comp", "rec", "sci", "talk"] and data.n_classes == 4
    kept = [TRAIN_COUNTS[i] - TRAIN_EMPTY[i] for i in (1, 3, 4, 6)]
    assert np.bincount(data.y_target).tolist() == kept
    assert data.meta["n_empty_dropped"] == sum(TRAIN_EMPTY[i] for i in (1, 3, 4, 6))
    assert all(x.strip() for x in data.X_target)
    assert set(data.meta["newsgroup"]) == {g for g in data.meta["newsgroup"] if g.split(".")[0] in data.meta["classes"]}
    kept_all = load_task("newsgroups_topics", "train", drop_empty=False)
    assert sum(not x.strip() for x in kept_all.X_target) == data.meta["n_empty_dropped"]
    # task all = train then test
    both = load_task("newsgroups_topics", "all", categories="all")
    n_train = sum(TRAIN_COUNTS) - sum(TRAIN_EMPTY)
    assert both.X_target.shape == (n_train + sum(TEST_COUNTS) - sum(TEST_EMPTY),)
    assert both.meta["n_empty_dropped"] == sum(TRAIN_EMPTY) + sum(TEST_EMPTY)
    assert np.bincount(both.y_target).tolist() == [
        a + b - c - d for a, b, c, d in zip(TRAIN_COUNTS, TEST_COUNTS, TRAIN_EMPTY, TEST_EMPTY)
    ]
    for c in range(7):  # within a category, the train posts come first
        splits = both.meta["split"][both.y_target == c].tolist()
        assert splits == sorted(splits, key=["train", "test"].index)


def test_newsgroups_headers_footers_quotes_stripped_as_sklearn(shared_data):
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    data = load_task("newsgroups_topics", "test", categories="all", drop_empty=False)
    texts = data.X_target
    # raw posts start with their header ("From: ..."); after stripping hardly any does (60 of 18 846 posts
    # quote a forwarded message's header right after their own)
    assert np.mean([t.lstrip().startswith(("From:", "Subject:", "Organization:")) for t in texts]) < 0.01
    assert not any("\nLines: " in t[:300] and "\nOrganization: " in t[:300] for t in texts[:500])
    # exact equality with scikit-learn's functions on the raw latin-1 posts, for a few posts
    rows = np.random.RandomState(0).choice(len(texts), 25, replace=False)
    raw = {}
    with tarfile.open(shared_data / NEWS_TAR, "r:gz") as tar:
        for m in tar:
            if m.isfile() and m.name.startswith("20news-bydate-test/"):
                raw.setdefault(m.name.split("/")[1], []).append((m.name, tar.extractfile(m).read().decode("latin-1")))
    for r in rows:
        group = data.meta["newsgroup"][r]
        posts = sorted(raw[group])
        k = int(np.sum(data.meta["newsgroup"][:r] == group))  # rank of row r in its newsgroup (file-name order)
        name, text = posts[k]
        assert text.startswith("From:") or "\n\n" in text
        expected = strip_newsgroup_quoting(strip_newsgroup_footer(strip_newsgroup_header(text)))
        assert texts[r] == expected, name
        assert not texts[r].startswith(text.split("\n", 1)[0]), name  # the post's own first header line is gone


def test_newsgroups_categories_option(shared_data):
    two = load_task("newsgroups_topics", "test", categories="talk,comp")
    assert two.meta["classes"] == ["comp", "talk"] and two.meta["categories"] == "comp+talk"
    assert two.meta["n_classes"] == 2
    assert np.bincount(two.y_target).tolist() == [TEST_COUNTS[1] - TEST_EMPTY[1], TEST_COUNTS[6] - TEST_EMPTY[6]]
    same = load_task("newsgroups_topics", "test", categories=["TALK", "comp", "comp"])
    assert same.X_target.tolist() == two.X_target.tolist() and same.y_target.tolist() == two.y_target.tolist()
    assert load_task("newsgroups_topics", "test", categories=" all ").meta["classes"] == list(tc.NEWSGROUPS_TOP_CATEGORIES)


def test_newsgroups_n_classes_follows_categories(shared_data):
    assert load_task("newsgroups_topics", "test", categories="all").n_classes == 7
    assert load_task("newsgroups_topics", "test", categories="comp+talk").n_classes == 2


@pytest.mark.parametrize("bad", ["comp+foo", "comp", "", "all+comp", 7, None, ["comp", 3]])
def test_newsgroups_bad_categories(bad):
    pattern = r"newsgroups_topics: categories must be 'all' or at least 2 of the top categories alt\+comp\+misc\+rec\+sci\+soc\+talk"
    with pytest.raises(ConfigError, match=pattern):
        load_task("newsgroups_topics", "train", categories=bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", False])
def test_newsgroups_bad_n_per_category(bad):
    with pytest.raises(ConfigError, match=r"newsgroups_topics: n_per_category must be an int >= 1 .*or null"):
        load_task("newsgroups_topics", "train", n_per_category=bad)


def test_newsgroups_bad_drop_empty():
    with pytest.raises(ConfigError, match="newsgroups_topics: drop_empty must be true or false, got 'yes'"):
        load_task("newsgroups_topics", "train", drop_empty="yes")


def test_newsgroups_subsample_is_seeded_nested_and_per_category(shared_data):
    a = load_task("newsgroups_topics", "train", n_per_category=150)
    b = load_task("newsgroups_topics", "train", n_per_category=150)
    assert np.bincount(a.y_target).tolist() == [150] * 4
    assert a.X_target.tolist() == b.X_target.tolist()
    small = load_task("newsgroups_topics", "train", n_per_category=60)
    pair = load_task("newsgroups_topics", "train", n_per_category=150, categories="comp+sci")
    full = load_task("newsgroups_topics", "train")
    for c, name in enumerate(a.meta["classes"]):
        mine = a.X_target[a.y_target == c].tolist()
        pool = full.X_target[full.y_target == c].tolist()
        i = tc.NEWSGROUPS_TOP_CATEGORIES.index(name)
        assert mine == [pool[k] for k in np.sort(np.random.RandomState(i).permutation(len(pool))[:150])]
        assert set(small.X_target[small.y_target == c]) <= set(mine)
        if name in pair.meta["classes"]:  # a category's draw does not depend on the other categories
            assert pair.X_target[pair.y_target == pair.meta["classes"].index(name)].tolist() == mine
    # at most n per category: alt has fewer posts than asked
    capped = load_task("newsgroups_topics", "train", categories="all", n_per_category=500)
    assert np.bincount(capped.y_target).tolist() == [TRAIN_COUNTS[0] - TRAIN_EMPTY[0]] + [500] * 6


def test_newsgroups_parsed_once_per_process(shared_data):
    load_task("newsgroups_topics", "test")
    before = tc._read_20news.cache_info().hits
    load_task("newsgroups_topics", "train", n_per_category=10)
    assert tc._read_20news.cache_info().hits == before + 1


# --------------------------------------------------------------------------------------------------
# missing and corrupt files
# --------------------------------------------------------------------------------------------------


def test_missing_files_give_the_clear_error(empty_data):
    with pytest.raises(DataFileNotFoundError, match=r"20news-bydate\.tar\.gz.*cannot be downloaded automatically.*julenminer"):
        load_task("newsgroups_topics", "train")
    with pytest.raises(DataFileNotFoundError, match=r"books_negative\.parsed\.gz.*tltax data fetch amazon_domains") as info:
        load_task("amazon_domains", "all_domains")
    assert "TLTAX_DATA_DIR" in str(info.value)


def test_corrupt_files_give_the_checksum_error(empty_data):
    dest = _copy(NEWS_TAR, empty_data)
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(DataChecksumError, match=r"20news-bydate\.tar\.gz: expected sha256 0e49c202.*obtain it again"):
        load_task("newsgroups_topics", "test")
    for d in ("books", "dvd", "electronics", "kitchen"):
        for p in ("negative", "positive"):
            _copy(f"amazon_reviews_text/{d}_{p}.parsed.gz", empty_data)
    bad = empty_data / "amazon_reviews_text" / "dvd_positive.parsed.gz"
    bad.write_bytes(gzip.compress(b"<review>only one</review>"))
    with pytest.raises(DataChecksumError, match=r"dvd_positive\.parsed\.gz.*tltax data fetch amazon_domains"):
        load_task("amazon_domains", "all_domains", n_per_domain=5)


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path.write_bytes(buf.getvalue())
    return path


def test_archive_content_checks(tmp_path):
    # the reader's own checks (behind the sha256 check, for a replaced archive)
    wrong = _tar_gz(tmp_path / "wrong.tar.gz", {"20news-bydate-train/alt.atheism/1": b"From: a\n\nhello"})
    with pytest.raises(DataFileError, match=r"holds \{'train': 1, 'test': 0\} documents in 1 newsgroups"):
        tc._read_20news(_key(wrong))
    layout = _tar_gz(tmp_path / "layout.tar.gz", {"news/alt.atheism/1": b"x"})
    with pytest.raises(DataFileError, match="not the 20news-bydate layout"):
        tc._read_20news(_key(layout))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a gzip file at all")
    with pytest.raises(DataFileError, match="Cannot read the 20 Newsgroups archive"):
        tc._read_20news(_key(garbage))
