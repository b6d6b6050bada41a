"""`AccountListing` (pure over its pages): what a run scans while the organization is listed."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from collector.models import Account
from collector.organization import AccountListing


def accounts(first: int, n: int, status: str = "ACTIVE") -> list[Account]:
    return [Account(id=f"{first + i:012d}", name=f"a{first + i}", status=status) for i in range(n)]


def pages(read: list[int], *, fail_at: int | None = None) -> Iterator[list[Account]]:
    for k in range(3):
        if k == fail_at:
            raise ClientError({"Error": {"Code": "TooManyRequestsException"}}, "ListAccounts")
        read.append(k)
        yield accounts(100 * k, 19) + accounts(100 * k + 50, 1, status="SUSPENDED")


def test_accounts_come_page_by_page_and_the_list_is_whole_at_the_end() -> None:
    read: list[int] = []
    listing = AccountListing(pages(read), exclude=[f"{1:012d}"])
    assert listing.prefetch(10) == 18 and read == [0]  # one page was enough to know
    assert listing.everyone is None  # not yet the whole organization
    got = [a.id for a in listing]
    assert read == [0, 1, 2] and len(got) == 3 * 19 - 1 and f"{1:012d}" not in got
    assert listing.everyone is not None and len(listing.everyone) == 60
    assert listing.selected == len(got) and listing.names[f"{250:012d}"] == "a250"


def test_a_page_that_fails_ends_the_listing_without_a_whole_list() -> None:
    read: list[int] = []
    listing = AccountListing(pages(read, fail_at=1))
    got = list(listing)
    assert len(got) == 19 and read == [0]
    assert listing.everyone is None and listing.error is not None
    assert str(listing.error).startswith(
        "cannot list organization accounts: TooManyRequestsException"
    )
    assert "after 20 accounts" in str(listing.error)
    # The first page failing: nothing was listed, nothing to say about scanned accounts.
    first = AccountListing(pages([], fail_at=0))
    assert first.prefetch(1) == 0 and first.error is not None
    assert "after" not in str(first.error)


def test_an_interrupted_run_stops_listing() -> None:
    read: list[int] = []
    stop = [False]
    listing = AccountListing(pages(read), interrupted=lambda: stop[0])
    it = iter(listing)
    next(it)
    stop[0] = True  # Ctrl-C: the rest of the organization is not listed (50 pages, 5 s)
    assert len(list(it)) == 18 and read == [0]
    assert listing.everyone is None and listing.error is None
