"""Record field values: dotted lookups into nested records, and values made JSON-able for `meta`
(timestamps, decimals, bytes, numpy scalars) (see corpora/records.py)."""
from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from typing import Any

import orjson


ABSENT = object()  # a field that is not in the record (null is a present None)


def lookup(record: dict, field: str) -> Any:
    """`record[field]`, or a walk along a dotted path (`metadata.url`); ABSENT when absent."""
    value = record.get(field, ABSENT)
    if value is not ABSENT or "." not in field:
        return value
    value = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return ABSENT
        value = value[part]
    return value


def clean_str(text: str) -> str:
    """Lone surrogates (from `\\ud800`-style escapes) cannot be encoded to UTF-8: U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def jsonable(value: Any) -> Any:
    """A value json.dumps and Arrow accept: timestamps -> ISO text, Decimal -> float, bytes ->
    UTF-8 text (else base64), numpy -> Python, NaN/inf -> None, containers recursively."""
    kind = type(value)
    if kind is str:
        return clean_str(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return clean_str(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(bytes(value)).decode()
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return jsonable(value.tolist())
    for plain in (bool, int, float, str):  # subclasses: IntEnum, str enums...
        if isinstance(value, plain):
            return jsonable(plain(value))
    return str(value)


def default_meta(record: dict, exclude: set[str]) -> dict[str, Any]:
    """Scalar fields, and scalar fields of nested objects as `parent.child` (one level).
    Inlined type tests: this runs for every field of every record."""
    meta: dict[str, Any] = {}
    for key, value in record.items():
        if key in exclude:
            continue
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            meta[key] = value
        elif kind is float:
            meta[key] = value if value - value == 0 else None  # NaN and inf are not JSON
        elif kind is dict:
            for sub_key, sub_value in value.items():
                sub_kind = type(sub_value)
                if sub_kind is list or sub_kind is dict or sub_value is None:
                    continue
                dotted = f"{key}.{sub_key}"
                if dotted in exclude:
                    continue
                if sub_kind is str or sub_kind is int or sub_kind is bool:
                    meta[dotted] = sub_value
                elif sub_kind is float:
                    meta[dotted] = sub_value if sub_value - sub_value == 0 else None
                elif _is_scalar(sub_value):
                    meta[dotted] = jsonable(sub_value)
        elif kind is not list and value is not None and _is_scalar(value):
            meta[key] = jsonable(value)
    return meta


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple)) and getattr(value, "ndim", 0) == 0


def json_object_fields(record: dict) -> None:
    """RedPajama-V2-style exports keep `meta` as a JSON object string: read it as the object."""
    for key in ("meta", "metadata"):
        value = record.get(key)
        if type(value) is str and value.startswith("{"):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if type(parsed) is dict:
                record[key] = parsed


def record_key(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(jsonable(value), sort_keys=True)
    return str(jsonable(value))
