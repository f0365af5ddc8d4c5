"""Licence of a source tree as an SPDX expression: from a licence file at its root
(LICENSE, LICENCE, COPYING, LICENSE-MIT, ...) or from a free-text metadata field.

Detection looks for each licence's characteristic sentence rather than comparing whole texts,
so that copyright lines, reflowed paragraphs and appended notices do not defeat it. Anything not
recognised stays unknown (None): a wrong licence is worse than none.
"""
from __future__ import annotations

import re

LICENSE_FILE_PATTERN = re.compile(r"^(licen[cs]e|copying|unlicense)([-._].*)?$", re.IGNORECASE)
MAX_LICENSE_BYTES = 256 * 1024


def is_license_file(path: str) -> bool:
    return LICENSE_FILE_PATTERN.match(path.rsplit("/", 1)[-1]) is not None


def _squash(text: str) -> str:
    return " ".join(text.lower().replace("*", " ").replace("#", " ").split())


# (SPDX id, phrases): the first phrase anchors the licence, the others must follow within
# PHRASE_WINDOW_CHARS of it. Files often concatenate several texts (numpy's LICENSE.txt is
# BSD-3-Clause followed by the GPL texts of bundled runtimes; CPython's embeds BSD-style
# notices), so the licence whose anchor comes first wins; at equal anchors, the earlier rule
# (BSD-4 before BSD-3 before BSD-2, LGPL before GPL).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PSF-2.0", ("python software foundation license version 2",)),
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", ("gnu library general public license", "version 2")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("Apache-2.0", ("apache license version 2.0",)),
    ("Apache-2.0", ("apache license, version 2.0",)),
    ("Apache-2.0", ("version 2.0, january 2004 http://www.apache.org/licenses/",)),
    ("MPL-2.0", ("mozilla public license version 2.0",)),
    ("MPL-2.0", ("mozilla public license, v. 2.0",)),
    ("MPL-1.1", ("mozilla public license version 1.1",)),
    ("EPL-2.0", ("eclipse public license", "2.0")),
    ("BSL-1.0", ("boost software license", "version 1.0")),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("MIT", ("permission is hereby granted, free of charge, to any person obtaining a copy",)),
    ("ISC", ("permission to use, copy, modify, and", "distribute this software for any purpose "
             "with or without fee is hereby granted, provided that the above copyright notice")),
    ("Zlib", ("this software is provided 'as-is', without any express or implied warranty",
              "altered source versions must be plainly marked")),
    ("BSD-4-Clause", ("redistribution and use in source and binary forms",
                      "all advertising materials mentioning features")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms",
                      "may be used to endorse or promote products derived from this software")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
)
PHRASE_WINDOW_CHARS = 3000
_SPDX_TAG = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+()\- ]+?)\s*(\*/|-->|$)", re.M)


def _anchor_position(squashed: str, phrases: tuple[str, ...]) -> int | None:
    anchor = squashed.find(phrases[0])
    while anchor >= 0:
        window = squashed[anchor : anchor + PHRASE_WINDOW_CHARS]
        if all(phrase in window for phrase in phrases[1:]):
            return anchor
        anchor = squashed.find(phrases[0], anchor + 1)
    return None


def detect_license_text(text: str) -> str | None:
    """SPDX id of a licence text, or None when it is not one of the common licences."""
    tagged = _SPDX_TAG.search(text[:2000])
    if tagged:
        return tagged.group(1).strip()
    if len(text) < 100:  # a bare name, e.g. ray's LICENSE.txt is "Apache 2.0"
        named = normalize_license_name(text)
        return named if named != text.strip() or named in _ALIASES.values() else None
    squashed = _squash(text)
    best: tuple[int, int, str] | None = None
    for rule_index, (spdx_id, phrases) in enumerate(_RULES):
        position = _anchor_position(squashed, phrases)
        if position is not None and (best is None or (position, rule_index) < best[:2]):
            best = (position, rule_index, spdx_id)
    return best[2] if best else None


def combine_licenses(spdx_ids: list[str]) -> str | None:
    """Several licence files at one root (LICENSE-MIT + LICENSE-APACHE): all apply as far as a
    reader can tell from the files alone, hence AND (the conservative reading; the package
    metadata may say OR)."""
    unique = sorted(set(spdx_ids))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else " AND ".join(unique)


_ALIASES = {
    "mit": "MIT", "mit license": "MIT", "expat": "MIT", "the mit license": "MIT",
    "apache": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2": "Apache-2.0",
    "apache-2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache license, version 2.0": "Apache-2.0",
    "bsd-2-clause": "BSD-2-Clause", "bsd 2-clause": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause", "new bsd": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause", "zlib": "Zlib", "isc": "ISC", "isc license": "ISC",
    "mpl-2.0": "MPL-2.0", "unlicense": "Unlicense", "cc0-1.0": "CC0-1.0", "psf-2.0": "PSF-2.0",
    "gpl-2": "GPL-2.0", "gpl-2.0": "GPL-2.0", "gpl-3": "GPL-3.0", "gpl-3.0": "GPL-3.0",
    "lgpl-2.1": "LGPL-2.1", "lgpl-3.0": "LGPL-3.0", "bsl-1.0": "BSL-1.0", "0bsd": "0BSD",
}
_OPERATOR = re.compile(r"\s+(or|and)\s+", re.IGNORECASE)


def normalize_license_name(raw: str) -> str:
    """An SPDX expression for common free-text licence names ("MIT License", Debian's "Expat",
    "MIT or Apache-2.0", "BSD-3-clause~Google"); the raw string, stripped, when any part is
    unrecognised (e.g. the PyPI classifier "OSI Approved :: BSD License" names no variant)."""
    parts = _OPERATOR.split(raw.strip())
    normalized = []
    for index, part in enumerate(parts):
        if index % 2:  # an operator
            normalized.append(part.upper())
            continue
        key = part.strip().lower().split("~", 1)[0].strip()
        if key not in _ALIASES:
            return raw.strip()
        normalized.append(_ALIASES[key])
    return " ".join(normalized)


# ----------------------------------------------------------------------------- trees


def root_prefix(paths: list[str]) -> str:
    """'pkg-1.0/' when every path sits under one top directory (an sdist), else ''."""
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) == 1 and all("/" in path for path in paths):
        return tops.pop() + "/"
    return ""


def license_of(texts: dict[str, bytes], prefix: str) -> str | None:
    """Licence from the licence files directly under the root."""
    found = []
    for path, data in sorted(texts.items()):
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            spdx_id = detect_license_text(data.decode("utf-8", "replace"))
            if spdx_id:
                found.append(spdx_id)
    return combine_licenses(found)
