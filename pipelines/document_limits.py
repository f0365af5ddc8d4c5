"""Bounded size and time per document in `extract`, whatever the source kind.

Readers bound what they hold while reading (commoncrawl `max_payload_bytes`, code `max_file_bytes`,
books `max_book_bytes`, jsonl `max_record_bytes`); this is the stage's own backstop over every
reader's output, set under `runner:` in the recipe:

  max_doc_chars            a document longer than this is dropped, counted `doc_too_large`
  extract_timeout_seconds  wall time the reader may spend producing one document (HTML extraction,
                           wikitext parsing, decoding); past it the document is abandoned and counted
                           `error:ExtractTimeout`

The timeout is a SIGALRM interval timer, armed while the reader works towards the next document and
re-firing every period: readers that catch errors per record (commoncrawl, wikipedia, jsonl) count
the interrupted record and go on with the next; a reader interrupted outside a record stops there,
counted the same way, keeping what it yielded. It interrupts Python code, and C code when that
returns to Python: one C call that never returns (a parser loop inside a C++ extension) is not cut,
which is why the readers' byte limits come first. Signals reach only the main thread; Ray runs a
task there, and elsewhere (a thread) the timeout is not applied and the stats say so
(`extract_timeout_unavailable`).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from corpora import SkipCounter

DEFAULT_MAX_DOC_CHARS = 10_000_000  # 10 M characters: above the longest real books (~5 M)
DEFAULT_EXTRACT_TIMEOUT_SECONDS = 60.0


class ExtractTimeout(Exception):
    """Raised inside a reader by the per-document timer (an Exception, so a reader that catches
    errors per record counts it and goes on)."""


def _on_alarm(signum, frame):
    raise ExtractTimeout("one document took longer than runner.extract_timeout_seconds")


@contextmanager
def _alarm_handler(enabled: bool):
    if not enabled:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def limited_documents(documents: Iterator[dict], skips: SkipCounter, *, max_doc_chars: int | None,
                      timeout_seconds: float | None) -> Iterator[dict]:
    """The reader's documents, minus those over `max_doc_chars`, each produced within the timeout."""
    timed = bool(timeout_seconds) and hasattr(signal, "setitimer")
    if timed and threading.current_thread() is not threading.main_thread():
        skips.skip("extract_timeout_unavailable")
        timed = False
    with _alarm_handler(timed):
        while True:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, timeout_seconds, timeout_seconds)
            try:
                doc = next(documents)
            except StopIteration:
                return
            except ExtractTimeout:  # the reader was cut outside a record: it cannot resume
                skips.skip("error:ExtractTimeout")
                return
            finally:
                if timed:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            if max_doc_chars is not None and len(doc["text"]) > max_doc_chars:
                skips.skip("doc_too_large")
                continue
            yield doc
