"""Compact JSON written by pydantic-core where its text is `json.dumps`' own, byte for byte."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.report import jsontext
from collector.report.jsontext import compact_json, floats_agree


def _python(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


# Strings as member data brings them: any character, lone surrogates and DEL too.
_TEXT = st.one_of(
    st.text(),
    st.text(st.characters(exclude_categories=())),
    st.sampled_from(["\ud800", "\x7f", "é", "2600:1e5::/56", "name e5,", "x1e-5]", "0.0000"]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(_TEXT, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_the_text_is_json_dumps_own(data: Any) -> None:
    assert compact_json(data) == _python(data)


def test_every_decade_of_floats_is_written_as_python_writes_it() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308]
    for exponent in range(-323, 308):
        values += [rng.random() * float(f"1e{exponent}") for _ in range(4)]
        values.append(float(f"1e{exponent}"))
    values += [n / 10 for n in range(-2000, 2001)]  # percentages to one decimal
    for value in values:
        assert compact_json(value) == _python(value)
        assert compact_json({"pct": value, "k": [value, "x"]}) == _python(
            {"pct": value, "k": [value, "x"]}
        )
    assert compact_json(values) == _python(values)


def test_a_report_s_data_is_written_by_pydantic_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken for what a report holds (ids with hex digits, IPv6 blocks whose
    groups read like exponents, percentages): `json.dumps` is not called."""
    assert floats_agree()
    data = {
        "overlap_groups": [
            {
                "span": "10.0.0.0/16",
                "members": [
                    {"VpcId": "vpc-0e5f00000000000e1", "Cidr": "2600:1e5::/56", "Used": 93.8},
                    {"VpcId": "vpc-00000000000000006", "Cidr": "10.0.6.0/24", "Used": 0.0},
                ],
                "severity": "latent",
                "conflicts": [],
            }
        ],
        "summary": {"overlap_groups": 1, "stale": 0, "big": 2**70},
    }
    expected = _python(data)

    def refuse(*_: Any, **__: Any) -> str:
        raise AssertionError("json.dumps called")

    monkeypatch.setattr(jsontext.json, "dumps", refuse)
    assert compact_json(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"Name": "café"},  # non-ASCII: json.dumps escapes it
        {"Name": "a\x7fb"},  # DEL: escaped by json.dumps only
        {"Name": "\ud800"},  # a lone surrogate: pydantic-core refuses it
        {"pct": 1e-05},  # Python's exponent, pydantic-core's 0.00001
        [1e-07, 2.5e-09],
        1e-05,
    ],
)
def test_what_pydantic_core_writes_otherwise_is_written_by_json_dumps(data: Any) -> None:
    assert compact_json(data) == _python(data)


def test_a_pydantic_core_printing_floats_otherwise_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A version that printed 1e16 without an exponent (as Rust's own formatting does) would
    not be seen in its text: then it is not used at all."""
    real = jsontext.pydantic_core.to_json

    def plain_large(value: Any) -> bytes:
        text = real(value)
        return text.replace(b"1e+16", b"10000000000000000.0")

    floats_agree.cache_clear()
    monkeypatch.setattr(jsontext.pydantic_core, "to_json", plain_large)
    try:
        assert not floats_agree()
        assert compact_json({"big": 1e16}) == '{"big":1e+16}'
    finally:
        floats_agree.cache_clear()
