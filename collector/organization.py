"""Stage 2 — accounts: list the organization's members through paginators and filter them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.errors import FatalError, error_code, error_message
from collector.models import Account

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


# The most accounts one `ListAccounts` page holds.
ACCOUNTS_PER_PAGE = 20


def account_pages(client: OrganizationsClient, call: Callable[..., Any]) -> Iterator[list[Account]]:
    """The organization's accounts a page at a time, each page asked through `call` (the retry
    policy's: a throttled page is asked again, not the whole listing). A page that cannot be
    read raises after the pages before it were yielded (AWS calls only)."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": ACCOUNTS_PER_PAGE}
        if token:
            kwargs["NextToken"] = token
        page = call(client.list_accounts, **kwargs)
        yield [_account(a) for a in page["Accounts"]]
        token = page.get("NextToken")
        if not token:
            return


class AccountListing:
    """The accounts a full run scans, as the organization lists them: the fan-out starts with
    the first page instead of after the last (50 pages, about 5 s, at 1,000 accounts).

    Iterating yields the selected accounts (ACTIVE, config filters) and reads the next page
    when the ones listed run out. A page that cannot be read ends the listing: `error` says
    so, and `everyone` stays None, since a partial list must not decide which accounts left
    the organization. So does an interrupt, without an error."""

    def __init__(
        self,
        pages: Iterator[list[Account]],
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        self._pages = pages
        # Interrupted (Ctrl-C, SIGTERM): no more pages. The run must end within seconds, and an
        # interrupted run concludes nothing from its list.
        self._interrupted = interrupted
        self._include, self._exclude = list(include), list(exclude)
        self._ready: deque[Account] = deque()
        self.listed: list[Account] = []
        self.names: dict[str, str] = {}
        self.selected = 0
        self.complete = False
        self.error: FatalError | None = None

    @classmethod
    def of(cls, everyone: list[Account], selected: list[Account]) -> AccountListing:
        """A listing already read whole (`--account`, `include_ous`, a given account list)."""
        listing = cls(iter(()))
        listing.listed, listing.names = everyone, {a.id: a.name for a in everyone}
        listing._ready.extend(selected)
        listing.selected, listing.complete = len(selected), True
        return listing

    @property
    def everyone(self) -> list[Account] | None:
        """Every account of the organization, once the listing is complete; None before."""
        return self.listed if self.complete else None

    def prefetch(self, selected: int) -> int:
        """Read pages until `selected` accounts are selected or the listing ends; how many
        are known."""
        while self.selected < selected and self._read_page():
            pass
        return self.selected

    def by_page(self) -> Iterator[list[Account]]:
        """The selected accounts a page at a time, each page's as soon as it is read (the
        fan-out's dispatcher queues them before it asks for the next)."""
        while True:
            if self._ready:
                chosen = list(self._ready)
                self._ready.clear()
                yield chosen
            if not self._read_page():
                return

    def __iter__(self) -> Iterator[Account]:
        while True:
            while self._ready:
                yield self._ready.popleft()
            if not self._read_page():
                return

    def _read_page(self) -> bool:
        if self.complete or self.error is not None or self._interrupted():
            return False
        try:
            page = next(self._pages)
        except StopIteration:
            self.complete = True
            return False
        except (ClientError, BotoCoreError) as exc:
            why = f"cannot list organization accounts: {error_code(exc)}: {error_message(exc)}"
            if self.listed:
                why += (
                    f" (listing stopped after {len(self.listed)} accounts: those were scanned; "
                    "nothing marked deleted, no findings recorded)"
                )
            self.error = FatalError(why)
            return False
        self.listed.extend(page)
        self.names.update((a.id, a.name) for a in page)
        chosen = select_accounts(page, include=self._include, exclude=self._exclude)
        self._ready.extend(chosen)
        self.selected += len(chosen)
        return True


def get_ou_account_ids(client: OrganizationsClient, ou_ids: Iterable[str]) -> set[str]:
    """Ids of the accounts under the given OUs, recursively through child OUs."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = list(ou_ids)
    while stack:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        for acc_page in client.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            found.update(a["Id"] for a in acc_page["Accounts"])
        for ou_page in client.get_paginator("list_children").paginate(
            ParentId=parent, ChildType="ORGANIZATIONAL_UNIT"
        ):
            stack.extend(c["Id"] for c in ou_page["Children"])
    return found


def describe_account(client: OrganizationsClient, account_id: str) -> Account | None:
    """The account as Organizations describes it now, or None when it is not a member (AWS call
    only; any other error raises)."""
    try:
        raw = client.describe_account(AccountId=account_id)["Account"]
    except ClientError as exc:
        if error_code(exc) == "AccountNotFoundException":
            return None
        raise
    return _account(raw)


def _account(raw: Any) -> Account:
    # `State` replaces `Status` in the Organizations API from 2025; accept both.
    status = raw.get("State") or raw.get("Status") or "UNKNOWN"
    return Account(id=raw["Id"], name=raw.get("Name", ""), status=str(status))


def select_accounts(
    accounts: Iterable[Account],
    *,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    in_ous: set[str] | None = None,
) -> list[Account]:
    """Pure filter: ACTIVE accounts, narrowed by include list, OU membership, minus excludes."""
    inc, exc = set(include), set(exclude)
    return [
        a
        for a in accounts
        if a.status == "ACTIVE"
        and (not inc or a.id in inc)
        and (in_ous is None or a.id in in_ous)
        and a.id not in exc
    ]
