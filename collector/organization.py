"""Stage 2 — accounts: list the organization's members through paginators and filter them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collector.errors import error_code
from collector.models import Account

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient


def get_accounts(client: OrganizationsClient) -> list[Account]:
    """Every account of the organization, whatever its status (AWS call only)."""
    out: list[Account] = []
    for page in client.get_paginator("list_accounts").paginate():
        out.extend(_account(a) for a in page["Accounts"])
    return out


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
