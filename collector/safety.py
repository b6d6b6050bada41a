"""Output safety: the one place that makes member-controlled and user-supplied strings inert.

Everything an account admin can set (VPC tags and Names, account names) and everything a file or
event can contain reaches people through renderers. Each output kind has its own hazard, and
its own neutralizer here, used by every renderer of that kind:

- text for terminals (and notifications): control characters (C0, C1: ESC sequences, `\\n`),
  bidirectional overrides and every other character that renders as nothing (zero-width,
  format, private-use characters, Hangul fillers) would let a Name forge lines, reorder what is
  shown or pass for another name; they become visible escapes;
- CSV for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, TAB or CR is a formula
  (OWASP "CSV injection"); it gets a leading `'`;
- the HTML report's data block is gzip-compressed JSON in base64 (`report.page.embed`): its
  alphabet cannot close the element or switch the HTML parser into another script state;
- error messages: bounded, one line, never the value of a secret.

JSON output (a data format for programs) stays exact.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# Characters a terminal, a mail client or a chat renders as nothing (or as something else) that
# a Name could use to spoof another: C0 and C1 controls and DEL (ESC sequences, line breaks);
# every format character (Unicode category Cf: bidirectional marks, overrides and isolates, the
# zero-width space and joiners, the word joiner, the soft hyphen, the byte-order mark, the tag
# characters of the U+E0000 block); line and paragraph separators (Zl, Zp); private-use
# characters (Co), which render as whatever a font puts there; and the Hangul fillers, letters
# that render blank.
_HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co"})
# In ASCII text only C0 controls and DEL can be unsafe: most strings take this fast path.
_ASCII_UNSAFE = re.compile("[\x00-\x1f\x7f]")
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Room for a key path, one short value and what is wrong, on one terminal line or two.
MAX_ERROR = 300


def _visible(match: re.Match[str]) -> str:
    return _escape(match.group())


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal(value: object) -> str:
    """`value` as text that cannot move the cursor, forge a line, reorder the display or hide a
    character (each unsafe character is shown as its escape, e.g. `\u200b`)."""
    text = str(value)
    if text.isascii():
        return _ASCII_UNSAFE.sub(_visible, text)
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES or ch in _HANGUL_FILLERS


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will show as text, never evaluate (non-strings unchanged)."""
    if isinstance(value, str) and value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def counted(count: int, noun: str, plural: str = "") -> str:
    """`1 conflict`, `2 conflicts`: counts as people write them (never `conflict(s)`)."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


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
