"""Output safety: the one place that makes member-controlled and user-supplied strings inert.

Everything an account admin can set (VPC tags and Names, account names) and everything a file or
event can contain reaches people through renderers. Each output kind has its own hazard, and
its own neutralizer here, used by every renderer of that kind:

- text for terminals: control characters (C0, C1: ESC sequences, `\\n`) and bidirectional
  overrides would let a Name forge lines or reorder what is shown; they become visible escapes;
- CSV for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, TAB or CR is a formula
  (OWASP "CSV injection"); it gets a leading `'`;
- JSON inside an HTML `<script>`: `<`, `>`, `&` and U+2028/2029 are written as `\\uXXXX`, so no
  string can close the element or switch the HTML parser into another script state;
- error messages: bounded, one line, never the value of a secret.

JSON output (a data format for programs) stays exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# C0 controls, DEL, C1 controls; bidirectional marks, embeddings, overrides and isolates;
# Unicode line and paragraph separators (terminals and editors break lines at them).
_UNSAFE_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_RE = re.compile("[<>&\u2028\u2029]")
# Room for a key path, one short value and what is wrong, on one terminal line or two.
MAX_ERROR = 300


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(value: object) -> str:
    """`value` as text that cannot move the cursor, forge a line or reorder the display."""
    return _UNSAFE_TEXT.sub(_visible, str(value))


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will show as text, never evaluate (non-strings unchanged)."""
    if isinstance(value, str) and value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def script_json(data: Any) -> str:
    """JSON safe to embed in an HTML `<script>` element (parses to exactly `data`)."""
    return _SCRIPT_RE.sub(lambda m: _SCRIPT_ESCAPES[m.group()], json.dumps(data))


def brief(value: Any, limit: int = 60) -> str:
    """A short repr of `value` for an error message: never megabytes, never several lines.

    Containers are summarised before repr() ever sees them (a YAML alias bomb or a 200,000
    entry list would otherwise be expanded in full just to be cut).
    """
    if isinstance(value, list | tuple | set | frozenset):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    text = repr(value[: limit + 1] if isinstance(value, str | bytes) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(message: str, limit: int = MAX_ERROR) -> str:
    """An error message as one bounded terminal-safe line."""
    text = terminal(" ".join(message.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every occurrence of each secret replaced by a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
