"""E-mail and IP address scrubbing with datatrove's PIIFormatter regexes and replacements.

Unlike datatrove (whose replacement cycle runs across all documents of a process), the cycle of
replacements restarts in every document, so the output does not depend on how documents are
batched or which worker sees them. Only public (global) IP addresses are replaced by default.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

import pyarrow as pa
from pydantic import Field

from corpora import Strict
from pipelines.filters.unit import DocumentScores, Filter

EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])")
IP = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
# An IP match is made of digits and dots only, so it lies inside one maximal run of them; running
# the IP regex on those runs alone gives the same matches, without trying it at every position.
_DIGIT_DOT_RUN = re.compile(r"[0-9.]{7,}")


def _is_public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def scrub(text: str, options: dict[str, Any]) -> tuple[str, int]:
    """(text with e-mails and IPs replaced, number of replacements)."""
    replaced = 0

    def substitute(pattern: re.Pattern, replacements: list[str], text: str, validate) -> str:
        nonlocal replaced
        cycle = 0

        def replacement(match: re.Match) -> str:
            nonlocal cycle, replaced
            if validate is not None and not validate(match.group(0)):
                return match.group(0)
            out = replacements[cycle % len(replacements)]
            cycle += 1
            replaced += 1
            return out

        return pattern.sub(replacement, text)

    if options["remove_emails"] and "@" in text:  # most documents have none
        text = substitute(EMAIL, options["email_replacement"], text, None)
    if options["remove_ips"]:
        validate = _is_public_ip if options["only_remove_public_ips"] else _is_ip
        pieces: list[str] = []
        position = 0
        cycle_state = {"cycle": 0}
        for run in _DIGIT_DOT_RUN.finditer(text):
            if run.group().count(".") < 3:
                continue
            pieces.append(text[position:run.start()])
            pieces.append(_substitute_ips(run.group(), options["ip_replacement"], validate, cycle_state))
            position = run.end()
        if pieces:
            replaced += cycle_state["cycle"]
            text = "".join(pieces) + text[position:]
    return text, replaced


def _substitute_ips(run: str, replacements: list[str], validate, state: dict[str, int]) -> str:
    """IP.sub on one digit-dot run; the replacement cycle continues across runs of a document."""
    def replacement(match: re.Match) -> str:
        if not validate(match.group(0)):
            return match.group(0)
        out = replacements[state["cycle"] % len(replacements)]
        state["cycle"] += 1
        return out

    return IP.sub(replacement, run)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class PiiConfig(Strict):
    """E-mail and IP address scrubbing (datatrove's PIIFormatter regexes and replacements; the
    replacement cycle restarts in every document so output does not depend on batching)."""

    enabled: bool = True
    remove_emails: bool = True
    remove_ips: bool = True
    only_remove_public_ips: bool = True
    email_replacement: list[str] = Field(
        default_factory=lambda: ["email@example.com", "firstname.lastname@example.org"], min_length=1)
    ip_replacement: list[str] = Field(
        default_factory=lambda: ["22.214.171.124", "126.96.36.199", "188.8.131.52",
                                 "184.108.40.206", "220.127.116.11", "18.104.22.168"], min_length=1)


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    doc.out_text, num_replaced = scrub(doc.out_text, options)
    return {"pii_num_replaced": num_replaced}


FILTER = Filter(
    name="pii", config=PiiConfig,
    score_options=("remove_emails", "remove_ips", "only_remove_public_ips", "email_replacement", "ip_replacement"),
    columns=lambda scores: ["pii_num_replaced"], reasons=(), features=features, rules=None,
    column_types={"pii_num_replaced": pa.int32()},
)
