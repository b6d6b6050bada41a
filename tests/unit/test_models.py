"""Pure transforms from raw describe_vpcs items (fixtures in tests/data), no mocks."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.cidrs import _ipv6, ipv4_span
from collector.models import Account, Vpc, to_records
from tests.conftest import load_data

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCOUNT = Account("111111111111", "payments")


def test_secondary_ipv6_and_disassociated_blocks() -> None:
    out = to_records(
        load_data("describe_vpcs_mixed.json")["Vpcs"], account=ACCOUNT, region="us-east-1", now=NOW
    )
    assert out.invalid == []
    vpc = out.records[0]
    assert vpc.VpcId == "vpc-0a1b2c3d4e5f60718"
    assert vpc.CidrBlock == "10.10.0.0/16"
    # Only associated blocks count; disassociated and failed associations are ignored.
    assert vpc.CidrBlocks == ("10.10.0.0/16", "100.64.0.0/20")
    assert vpc.Ipv6CidrBlocks == ("2600:1f18:4c3:a00::/56",)
    assert vpc.Name == "payments-prod"
    assert vpc.Tags == {"Name": "payments-prod", "team": "payments"}
    assert vpc.AccountName == "payments"
    assert vpc.Region == "us-east-1"
    assert (vpc.FirstSeen, vpc.LastSeen) == (NOW, NOW)
    assert vpc.DhcpOptionsId == "dopt-0a1b2c3d4e5f60718"
    assert vpc.InstanceTenancy == "default"
    assert not vpc.IsDefault and not vpc.Deleted


def test_default_vpc_without_tags() -> None:
    out = to_records(
        load_data("describe_vpcs_mixed.json")["Vpcs"], account=ACCOUNT, region="us-east-1", now=NOW
    )
    default = out.records[1]
    assert default.IsDefault
    assert default.Name is None and default.Tags == {}
    assert default.CidrBlocks == ("172.31.0.0/16",)


def test_vpc_shared_from_another_account_is_not_inventoried_here() -> None:
    out = to_records(
        load_data("describe_vpcs_mixed.json")["Vpcs"], account=ACCOUNT, region="us-east-1", now=NOW
    )
    assert [r.OwnerId for r in out.records] == ["111111111111", "111111111111"]
    assert out.shared_ignored == 1


def test_malformed_items_are_reported_not_raised() -> None:
    out = to_records(
        load_data("describe_vpcs_malformed.json")["Vpcs"],
        account=ACCOUNT,
        region="eu-west-1",
        now=NOW,
    )
    assert [r.VpcId for r in out.records] == ["vpc-00000000000000004"]
    assert out.records[0].State == "pending"
    reasons = {i.vpc_id: i.reason for i in out.invalid}
    assert set(reasons) == {
        "vpc-00000000000000001",
        "vpc-00000000000000002",
        "vpc-00000000000000003",
    }
    assert reasons["vpc-00000000000000001"].startswith("CidrBlock:")
    assert "10.0.0.300/16" in reasons["vpc-00000000000000002"]
    assert "State" in reasons["vpc-00000000000000003"]
    assert all(i.account_id == ACCOUNT.id and i.region == "eu-west-1" for i in out.invalid)


def test_record_is_frozen_and_tolerates_unknown_fields() -> None:
    vpc = to_records(
        load_data("describe_vpcs_mixed.json")["Vpcs"], account=ACCOUNT, region="us-east-1", now=NOW
    ).records[0]
    with pytest.raises(Exception, match="frozen"):
        vpc.State = "pending"  # type: ignore[misc]
    # Items are written by other programs too (a newer version): an unknown attribute is
    # ignored, not a reason to drop the VPC (issue 10, observation 3).
    assert Vpc.model_validate({**vpc.model_dump(), "Surprise": 1}) == vpc


def test_a_vpc_listed_twice_is_kept_once() -> None:
    raw = load_data("describe_vpcs_mixed.json")["Vpcs"][0]
    renamed = {**raw, "Tags": [{"Key": "Name", "Value": "later"}]}
    out = to_records([raw, renamed], account=ACCOUNT, region="us-east-1", now=NOW)
    assert [(v.VpcId, v.Name) for v in out.records] == [(raw["VpcId"], "later")]


@given(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
    | st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){3}", fullmatch=True),
    st.integers(0, 33) | st.sampled_from(["08", "", "-1"]),
)
@settings(max_examples=500)
def test_the_fast_cidr_check_agrees_with_ipaddress(address: str, prefix: int | str) -> None:
    # The fast path must accept exactly the canonical networks, and never let a bad one in.
    cidr = f"{address}/{prefix}"
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        net = None
    try:
        span = ipv4_span(cidr)
    except ValueError:
        span = None
    if span is not None:
        assert net is not None and str(net) == cidr
        assert span == (int(net.network_address), int(net.broadcast_address))
    elif net is not None:
        assert str(net) != cidr  # accepted by ipaddress only in a non-canonical spelling


@given(
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001]), min_size=8, max_size=8),
    st.integers(0, 129) | st.sampled_from(["064", ""]),
    st.sampled_from(["compressed", "exploded", "upper", "mapped"]),
)
@settings(max_examples=1000)
def test_ipv6_blocks_are_stored_as_ipaddress_prints_them(
    words: list[int], prefix: int | str, spelling: str
) -> None:
    # The fast path (inet_pton / inet_ntop) keeps a block only when it is already what
    # `ipaddress` prints; everything else goes through `ipaddress`, as before (issue 26).
    address = ipaddress.IPv6Address(sum(w << (16 * (7 - i)) for i, w in enumerate(words)))
    text = {
        "compressed": str(address),
        "exploded": address.exploded,
        "upper": str(address).upper(),
        "mapped": f"::ffff:{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}",
    }[spelling]
    cidr = f"{text}/{prefix}"
    try:
        expected: str | None = str(ipaddress.IPv6Network(cidr, strict=True))
    except ValueError:
        expected = None
    try:
        got: str | None = _ipv6(cidr)
    except ValueError:
        got = None
    assert got == expected
