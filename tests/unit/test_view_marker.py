"""collector.jobs.views: when a view may be compared after the latest recording (pure).

A recording compares a view only if that view's read began after the latest recording's read
ended. A view that read the marker first, and finds it unchanged, began after (causality);
otherwise the clocks decide, `CLOCK_SKEW` apart (none past this process's own recording)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from collector.jobs.views import CLOCK_SKEW, View, _free_at
from collector.store.findings import Marker, recorder_id
from collector.store.registry import Items

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ANOTHER = Marker(True, NOW, 0, recorded_by="another-recorder")


def view(after: Marker | None, started: datetime = NOW + timedelta(seconds=0.1)) -> View:
    return View(Items(), started, started + timedelta(seconds=1), after=after)


def test_a_view_that_read_the_marker_first_follows_it_on_any_clocks() -> None:
    # Read 0.1 s after another recorder's read ended: within the skew, yet newer by causality.
    assert not view(ANOTHER).outdated_by(ANOTHER)
    # ...and the same view, had it not read the marker first, goes by the clocks.
    assert view(None).outdated_by(ANOTHER)


@pytest.mark.parametrize(
    "now",
    [
        replace(ANOTHER, read_end=NOW + timedelta(seconds=0.5)),  # a recording since
        replace(ANOTHER, recorded_by="a-third-recorder"),  # a recording since, same instant
        replace(ANOTHER, recorded_by=None),  # an older version's recording since
        replace(ANOTHER, read_end_unknown=True),  # damaged since
    ],
)
def test_a_marker_changed_since_goes_by_the_clocks(now: Marker) -> None:
    assert view(ANOTHER).outdated_by(now)
    # Started past its read end and the skew, the view is newer by the clocks too.
    late = view(ANOTHER, started=NOW + timedelta(seconds=0.5) + CLOCK_SKEW)
    assert late.outdated_by(now) is now.read_end_unknown


def test_an_older_version_s_marker_is_never_taken_as_unchanged() -> None:
    """It names no recorder: the same read end could be another recording's."""
    old = replace(ANOTHER, recorded_by=None)
    assert view(old).outdated_by(old)
    assert not view(old, started=NOW + CLOCK_SKEW).outdated_by(old)


def test_past_this_process_s_own_recording_there_is_no_skew() -> None:
    mine = replace(ANOTHER, recorded_by=recorder_id())
    assert not view(None).outdated_by(mine)
    assert view(None, started=NOW - timedelta(seconds=0.1)).outdated_by(mine)


def test_the_early_read_waits_only_past_an_older_version_s_marker() -> None:
    assert _free_at(None) is None
    assert _free_at(Marker(False, None, 0)) is None
    assert _free_at(ANOTHER) is None
    assert _free_at(replace(ANOTHER, recorded_by=recorder_id())) is None
    assert _free_at(replace(ANOTHER, recorded_by=None)) == NOW + CLOCK_SKEW
