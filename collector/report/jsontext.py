"""Report — compact JSON text, as `json.dumps` writes it, written by pydantic-core where it can.

`json.dumps(data, separators=(",", ":"))` of the audit of 100,000 VPCs takes 0.46 s; pydantic-core
writes the same 17.6 MB in 0.16 s (docs/benchmarks.md). For JSON data (dicts with string keys,
lists and tuples, strings, ints, floats, booleans, None) its text is the same byte for byte but
in two ways, both visible in the text it writes:

- a string holding a character outside printable ASCII, which `json.dumps` escapes
  (`ensure_ascii`) and pydantic-core writes as it is (non-ASCII text, DEL; control characters
  both escape alike);
- a float that it prints in another style than Python's `repr`: with pydantic-core 2.50, those
  between 1e-9 and 1e-4 in magnitude (`0.00001` for `1e-05`, `1e-9` for `1e-09`).

Which floats a version prints otherwise depends on their magnitude only (both print the
shortest digits that read back as the float), so it is probed once, a few floats of every
decade: where some float is printed otherwise than as a number with an exponent or one with
four zeros after the point, pydantic-core is not used at all. Else, where its text holds a
character outside printable ASCII, or either of those forms of number, `json.dumps` writes the
answer (a false alarm, such as a name holding `e5,`, only costs that time).
tests/unit/test_jsontext.py holds the two equal.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

import pydantic_core

# A number with an exponent (lowercase, as both print them) at the end of a value, and four
# zeros after a point: where a float printed otherwise than by Python shows. Each begins with a
# literal, which the regular expression engine finds fast (10-30 ms in 17.6 MB; one that begins
# with a class of characters took 0.15 s).
_EXPONENT = re.compile(rb"e[-+]?\d+(?:[,}\]]|$)")
_SMALL = b"0.0000"


def _python_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _visible(text: bytes) -> bool:
    """Pure: `text` (pydantic-core's) holds a number printed in either form it may print
    otherwise than Python."""
    return _SMALL in text or _EXPONENT.search(text) is not None


@functools.cache
def floats_agree() -> bool:
    """Whether this pydantic-core prints every float as Python does but in a form `_visible`
    sees: probed over every decade a float has, several digits each (once a process)."""
    probes = [math.inf, -math.inf, math.nan, 0.0, -0.0]
    for exponent in range(-324, 309):
        for digits in ("1", "2.2250738585072014", "9.999999999999998"):
            value = float(f"{digits}e{exponent}")  # past the largest float: inf
            probes += [value, -value]
    # One list each way, then number by number (a number holds no comma).
    theirs = pydantic_core.to_json(probes)[1:-1].split(b",")
    ours = _python_json(probes).encode()[1:-1].split(b",")
    if len(theirs) != len(ours):
        return False
    return all(a == b or _visible(a) for a, b in zip(theirs, ours, strict=True))


def compact_json(data: Any) -> str:
    """`json.dumps(data, separators=(",", ":"))`, the same text, for JSON data whose dict keys
    are strings (a key of another type, which no report has, may be written otherwise)."""
    if not floats_agree():
        return _python_json(data)
    try:
        fast = pydantic_core.to_json(data)
    except ValueError:  # pydantic-core's serialization error: json.dumps then names the value
        return _python_json(data)
    if fast.isascii() and b"\x7f" not in fast and not _visible(fast):
        return fast.decode("ascii")
    return _python_json(data)
