"""Bounds on what an API request may send, checked before any of it is believed: the body's size,
the JSON's nesting, and the ids in paths.

A body larger than the service's ``max_request_body`` is refused by its announced length before
the caller is authenticated, and while it streams when it announces none; a JSON document nested
deeper than ``MAX_JSON_DEPTH`` is refused without recursion; an id in a path is ASCII digits
within the 32-bit primary keys, and anything else is "no such object", like an id nobody has.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import JsonTooDeep, RequestTooLarge, ValidationFailed

#: the deepest JSON any request body needs is about 5 levels (a competition's leaderboard columns)
MAX_JSON_DEPTH = 32
#: the largest primary key (INTEGER on PostgreSQL and SQLite alike)
MAX_ID = 2**31 - 1
_ID = re.compile(r"[0-9]{1,10}")


def path_id(ref: str) -> int | None:
    """The id a path segment names, or None when it cannot name one (Unicode digits such as
    ``²``, signs, spaces, values past the primary keys' range)."""
    if not _ID.fullmatch(ref):
        return None
    value = int(ref)
    return value if value <= MAX_ID else None


def announced_length(value: str | None) -> int | None:
    """A ``Content-Length`` header's value, or None when absent or malformed (Tornado refuses those)."""
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def check_length(length: int, limit: int) -> None:
    """Refuse a body past ``limit`` bytes (413)."""
    if length > limit:
        raise RequestTooLarge(
            f"The request body is {length} bytes or more; this API accepts at most {limit} bytes. "
            "Files go to their signed upload URL, never in an API request."
        )


def depth(document: Any) -> int:
    """How deeply ``document`` nests lists and objects (a scalar is 0), walked without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode_json(body: bytes) -> Any:
    """The JSON document of a request body; ValidationFailed if it is not JSON, JsonTooDeep if it
    nests past ``MAX_JSON_DEPTH`` (the decoder's own recursion limit included)."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise JsonTooDeep(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationFailed(f"The request body is not valid JSON: {e}") from None
    if depth(document) > MAX_JSON_DEPTH:
        raise JsonTooDeep(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    return document
