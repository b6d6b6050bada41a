"""Field shapes every stored item and scan result uses, checked inside pydantic-core.

Apart from `collector.config` so that what a scan worker imports stays small: the config's
schema and YAML are 1.3 MB of a worker's memory, and a worker never reads a config
(docs/benchmarks.md, "Two processes under 200 MB at once", part 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema as cs


@dataclass(frozen=True)
class Shaped:
    """A string matching `pattern` (the Rust regex crate's syntax), checked inside pydantic-core;
    anything else fails as an `AfterValidator` raising `ValueError(error)` fails (the same
    message). For fields of every stored VPC: a Python validator each was 5 % of an audit's
    read at 100k VPCs (docs/benchmarks.md)."""

    pattern: str
    error: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        shaped = cs.str_schema(pattern=self.pattern)
        failed = cs.custom_error_schema(
            shaped, "value_error", custom_error_context={"error": self.error}
        )
        # After the field's own type: a number is still "Input should be a valid string".
        return cs.chain_schema([handler(source), failed])


# `config.check_account_id` and `config.check_region_shape` in pydantic-core: ASCII digits by
# class, and `$` is the end of the text in Rust's syntax (tests/unit/test_config.py holds the
# two equal).
AccountId = Annotated[str, Shaped(r"^[0-9]{12}$", "not a 12-digit AWS account id")]
RegionShape = Annotated[
    str, Shaped(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", "not an AWS region name (e.g. us-east-1)")
]
