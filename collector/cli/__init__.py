"""Thin CLI adapter: parse arguments, call a job, print, choose the exit code.

`parser` (commands and flags), `commands` (one function per command), `main` (the entry point
and its error handling). `vpctracker` is `collector.cli:entry`.
"""

from __future__ import annotations

from collector.cli.main import entry, main

__all__ = ["entry", "main"]
