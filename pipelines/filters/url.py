"""URL rules: blocked domains and URLs (the UT1 lists datatrove bundles) and banned words.

Lists: datatrove's assets when datatrove is installed (`use_datatrove_lists`), plus files given in
`blocklist_paths` (one domain or URL per line, '#' comments) and the inline options. The 4.6 M
UT1 domains are kept as a sorted array of 64-bit xxhash values (36 MB, built once and cached in the
user cache dir) instead of a 400 MB Python set; a false match has probability ~ 4.6e6 / 2^64.

Differences from datatrove's URLFilter, on purpose:
  * a host is blocked when it or any parent domain is listed (datatrove checks the registered
    domain from the public suffix list and the full host only; no suffix list is needed here);
  * listed URLs are compared without the scheme (the UT1 `urls` file has none, so datatrove's
    exact comparison of full URLs never matches);
  * URL words are lower-cased before the banned-word checks (datatrove compares them as written,
    so "Porn" passes its list of lower-case words).
"""
from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import os
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from corpora import Strict
from pipelines.filters.langid import cache_dir
from tokenization.atomic_files import atomic_path
from pipelines.filters.unit import WEB, Decider, DocumentScores, Filter, columns_named

COLUMNS = ["url_blocked_domain", "url_blocked_url", "url_banned_word", "url_num_soft_banned_words",
           "url_banned_subword"]
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_TARBALL = "url_filterblacklistsv0_3_0.tar.gz"


def normalize(text: str) -> str:
    return _NON_ALNUM.sub("", text).lower()


def datatrove_assets_dir() -> Path | None:
    spec = importlib.util.find_spec("datatrove")
    if spec is None or not spec.origin:
        return None
    assets = Path(spec.origin).parent / "assets"
    return assets if assets.is_dir() else None


def _sorted_unique(*arrays: np.ndarray) -> np.ndarray:
    values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0].copy()
    values.sort()  # (np.unique would hash 4.6 M values first: seconds instead of milliseconds)
    if len(values) < 2:
        return values
    return values[np.concatenate([[True], values[1:] != values[:-1]])]


def _hashes(lines) -> np.ndarray:
    return _sorted_unique(np.fromiter((xxhash.xxh64_intdigest(line.encode()) for line in lines), dtype=np.uint64))


def _read_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("#")]


def _load_ut1(assets: Path) -> tuple[np.ndarray, np.ndarray]:
    """(domain hashes, url hashes) of datatrove's UT1 tarball, cached as .npz in the cache dir."""
    tarball = assets / _TARBALL
    stat = tarball.stat()
    key = hashlib.sha256(f"{tarball}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"ut1-blocklist-{key}.npz"
    if cached.is_file():
        with np.load(cached) as data:
            return data["domains"], data["urls"]
    with tarfile.open(tarball, "r:gz") as tar:
        domains = _hashes(line.strip().decode("utf-8", "replace") for line in tar.extractfile("domains")
                          if line.strip() and not line.startswith(b"#"))
        urls = _hashes(line.strip().decode("utf-8", "replace") for line in tar.extractfile("urls")
                       if line.strip() and not line.startswith(b"#"))
    try:  # a cache we cannot write is only slower
        with atomic_path(cached) as tmp, open(tmp, "wb") as out:
            np.savez(out, domains=domains, urls=urls)
    except OSError:
        pass
    return domains, urls


@dataclass(frozen=True)
class UrlLists:
    domains: np.ndarray  # sorted uint64 hashes
    urls: np.ndarray
    banned_words: frozenset[str]
    soft_banned_words: frozenset[str]
    banned_subwords: re.Pattern | None


@lru_cache(maxsize=4)
def _load_lists(options_json: str) -> UrlLists:
    options = json.loads(options_json)
    domain_parts, url_parts = [], []
    banned = {normalize(w) for w in options["banned_words"]}
    soft = {normalize(w) for w in options["soft_banned_words"]}
    subwords = {normalize(w) for w in options["banned_subwords"]}
    assets = datatrove_assets_dir() if options["use_datatrove_lists"] else None
    if options["use_datatrove_lists"] and assets is None:
        # Never filter with an empty blocklist without saying so.
        raise RuntimeError("url filter: `use_datatrove_lists` is on but the datatrove package (which "
                           "bundles the UT1 blocklists) is not installed; `pip install datatrove`, or "
                           "set `url: {use_datatrove_lists: false, blocklist_paths: [...]}`")
    if assets is not None:
        domains, urls = _load_ut1(assets)
        domain_parts.append(domains)
        url_parts.append(urls)
        banned |= {normalize(w) for w in _read_list(assets / "banned_words.txt")}
        soft |= {normalize(w) for w in _read_list(assets / "soft_banned_words.txt")}
        subwords |= {normalize(w) for w in _read_list(assets / "banned_subwords.txt")}
    extra_domains = [d.lower().strip(".") for d in options["extra_domains"]]
    extra_urls = []
    for path in options["blocklist_paths"]:
        for entry in _read_list(Path(os.path.expandvars(path)).expanduser()):
            if "/" in entry:
                extra_urls.append(entry)
            else:
                extra_domains.append(entry.lower().strip("."))
    domain_parts.append(_hashes(extra_domains))
    url_parts.append(_hashes(_strip_scheme(u) for u in extra_urls))
    banned.discard("")
    soft.discard("")
    subwords.discard("")
    pattern = re.compile("|".join(map(re.escape, sorted(subwords)))) if subwords else None
    return UrlLists(_sorted_unique(*domain_parts), _sorted_unique(*url_parts),
                    frozenset(banned), frozenset(soft), pattern)


def load_lists(score_options: dict[str, Any]) -> UrlLists:
    return _load_lists(json.dumps(score_options, sort_keys=True))


def _strip_scheme(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def _contains(sorted_hashes: np.ndarray, values: list[str]) -> bool:
    if not len(sorted_hashes) or not values:
        return False
    keys = np.array([xxhash.xxh64_intdigest(v.encode()) for v in values], dtype=np.uint64)
    found = np.searchsorted(sorted_hashes, keys)
    found[found == len(sorted_hashes)] = 0
    return bool((sorted_hashes[found] == keys).any())


def host_and_parents(host: str) -> list[str]:
    """'a.b.example.com' -> [a.b.example.com, b.example.com, example.com] (never the bare TLD)."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


def url_features(url: str | None, lists: UrlLists) -> dict[str, Any]:
    if not url:
        return {}
    host = urlsplit(url).hostname or ""
    url_words = set(_NON_ALNUM.split(url.lower()))
    banned = next((w for w in sorted(url_words) if w in lists.banned_words), None)
    subword = lists.banned_subwords.search(normalize(url)) if lists.banned_subwords else None
    return {
        "url_blocked_domain": _contains(lists.domains, host_and_parents(host)) if host else False,
        "url_blocked_url": _contains(lists.urls, [_strip_scheme(url), url]),
        "url_banned_word": banned,
        "url_num_soft_banned_words": sum(1 for w in url_words if w in lists.soft_banned_words),
        "url_banned_subword": subword.group(0) if subword else None,
    }


class UrlConfig(Strict):
    """Blocked domains / URLs / words, as datatrove's URLFilter (UT1 lists)."""

    enabled: bool = True
    use_datatrove_lists: bool = Field(True, description="load the UT1 lists bundled with datatrove when it is installed")
    blocklist_paths: list[str] = Field(default_factory=list, description="extra files, one domain or URL per line")
    extra_domains: list[str] = Field(default_factory=list)
    banned_words: list[str] = Field(default_factory=list, description="added to datatrove's banned_words.txt")
    soft_banned_words: list[str] = Field(default_factory=list)
    banned_subwords: list[str] = Field(default_factory=list)
    soft_word_threshold: int = Field(2, ge=1)
    check_domains: bool = True
    check_urls: bool = True
    check_banned_words: bool = True
    check_soft_banned_words: bool = True
    check_banned_subwords: bool = True


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    return url_features(doc.url, doc.batch["url"])


def rules(decider: Decider, options: dict[str, Any]) -> None:
    if options["check_domains"]:
        decider.fail("url_blocked_domain", decider.column("url_blocked_domain", False).astype(bool))
    if options["check_urls"]:
        decider.fail("url_blocked_url", decider.column("url_blocked_url", False).astype(bool))
    if options["check_banned_words"]:
        decider.fail("url_hard_blacklisted", ~pc.is_null(decider.table.column("url_banned_word")).to_numpy(zero_copy_only=False))
    if options["check_soft_banned_words"]:
        decider.fail("url_soft_blacklisted", decider.column("url_num_soft_banned_words", 0) >= options["soft_word_threshold"])
    if options["check_banned_subwords"]:
        decider.fail("url_blacklisted_subword",
               ~pc.is_null(decider.table.column("url_banned_subword")).to_numpy(zero_copy_only=False))


FILTER = Filter(
    name="url", config=UrlConfig,
    score_options=("use_datatrove_lists", "blocklist_paths", "extra_domains", "banned_words",
                   "soft_banned_words", "banned_subwords"),
    columns=lambda scores: list(COLUMNS),
    reasons=("url_blocked_domain", "url_blocked_url", "url_hard_blacklisted", "url_soft_blacklisted",
             "url_blacklisted_subword"),
    features=features, rules=rules, presence_column="url_blocked_domain", decision_rank=10,
    column_types={"url_blocked_domain": pa.bool_(), "url_blocked_url": pa.bool_(), "url_banned_word": pa.string(),
                  "url_num_soft_banned_words": pa.int32(), "url_banned_subword": pa.string()},
    profiles=(WEB,),
    prepare=lambda texts, urls, options, words: load_lists(options),
    deciding_columns=columns_named({
        "url_blocked_domain": "url_blocked_domain", "url_blocked_url": "url_blocked_url",
        "url_hard_blacklisted": "url_banned_word", "url_soft_blacklisted": "url_num_soft_banned_words",
        "url_blacklisted_subword": "url_banned_subword"}),
)
