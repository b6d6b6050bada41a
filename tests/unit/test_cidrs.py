"""collector.cidrs: the IPv6 check's fast path takes only blocks the full check keeps as they
are, and takes the blocks AWS assigns (a VPC's /56, a subnet's /64) and those brought to it
in whole groups (a BYOIP /48). Pure."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.cidrs import _AWS_BLOCK, _ipv6, _ipv6_parsed


def _kept(value: str) -> bool:
    """Whether the full check keeps `value` as it is."""
    try:
        return _ipv6_parsed(value) == value
    except ValueError:
        return False


def _fast(value: str) -> bool:
    return _AWS_BLOCK.fullmatch(value) is not None


# Any prefix length, the ones AWS assigns (and their neighbours) more often.
_prefixes = st.one_of(
    st.sampled_from([16, 32, 44, 48, 52, 55, 56, 57, 60, 63, 64, 65, 96, 112]),
    st.integers(0, 128),
)
_networks = st.tuples(st.integers(0, (1 << 128) - 1), _prefixes).map(
    lambda t: ipaddress.IPv6Network((t[0] >> (128 - t[1]) << (128 - t[1]), t[1]))
)


def _spellings(net: ipaddress.IPv6Network) -> list[str]:
    """The block as `ipaddress` prints it, and other spellings of it or near it."""
    canonical = str(net)
    address, prefix = canonical.split("/")
    host = [] if net.prefixlen == 128 else [f"{net.network_address + 1}/{prefix}"]
    first_host_bit = 1 << (127 - net.prefixlen) if net.prefixlen < 128 else 0
    host += [f"{net.network_address + first_host_bit}/{prefix}"] if first_host_bit else []
    return [
        *host,  # host bits set
        canonical,
        net.exploded,
        canonical.upper(),
        f"{address}/{int(prefix) + 1}",
        f"{address}/0{prefix}",
        f"{address}/{prefix}\n",
        canonical.replace("::", ":0::", 1),
        ":".join(g.zfill(4) if g else g for g in address.split(":")) + f"/{prefix}",
    ]


@settings(max_examples=3000, deadline=None)
@given(_networks)
def test_the_fast_path_takes_only_what_the_full_check_keeps(net: ipaddress.IPv6Network) -> None:
    for value in _spellings(net):
        if _fast(value):
            assert _kept(value), value
        assert _ipv6_or_error(value) == _ipv6_parsed_or_error(value), value


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.integers(1, 0xFFFF), min_size=3, max_size=3),
    st.integers(1, 0xFF),
    st.integers(1, 0xFFFF),
)
def test_the_fast_path_takes_the_blocks_aws_assigns(
    groups: list[int], byte: int, fourth: int
) -> None:
    high = sum(g << (112 - 16 * i) for i, g in enumerate(groups))
    vpc = str(ipaddress.IPv6Network((high | byte << 72, 56)))
    subnet = str(ipaddress.IPv6Network((high | fourth << 64, 64)))
    for value in (vpc, subnet):
        assert _fast(value) and _kept(value), value


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=6), st.integers(0, 128))
def test_the_fast_path_takes_blocks_of_whole_groups(groups: list[int], extra: int) -> None:
    """A block brought to AWS (BYOIP, an IPAM pool) of k nonzero groups with a prefix of at
    least 16k bits: checked without parsing, so the analysis parses it once."""
    prefix = 16 * len(groups) + extra % (129 - 16 * len(groups))
    high = sum(g << (112 - 16 * i) for i, g in enumerate(groups))
    value = str(ipaddress.IPv6Network((high, prefix)))
    assert _fast(value) and _kept(value), value


def _ipv6_or_error(value: str) -> str:
    try:
        return _ipv6(value)
    except ValueError as exc:
        return f"error: {exc}"


def _ipv6_parsed_or_error(value: str) -> str:
    try:
        return _ipv6_parsed(value)
    except ValueError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize(
    "value",
    [
        "2600:1f18:1a2b:1100::/56",
        "2a05:d018:f5e:b700::/56",
        "2600:1f18:1a2b:1101::/64",
        "2406:da18:f:ff00::/56",
        "2001:db8:1234::/48",  # BYOIP
        "2a05:d018::/32",
    ],
)
def test_aws_blocks_take_the_fast_path(value: str) -> None:
    assert _fast(value) and _kept(value)


@pytest.mark.parametrize(
    "value",
    [
        "2600:1f18:1a2b:1101::/56",  # host bits set
        "2600:1f18:01a2:1100::/56",  # a leading zero
        "2600:1F18:1a2b:1100::/56",  # upper case
        "2600:0:1a2b:1100::/56",  # a zero group: canonical, but the full check decides
        "2600:1f18:1a2b:1100::/056",
        "2600:1f18:1a2b:1100::/56\n",
        "2600:1f18:1a2b:1100:0:0:0:0/56",
        "2600:1f18:1a2b:1100::/60",
        "::ffff:10.0.0.0/120",
        "2001:db8:1234::/47",  # a prefix shorter than its groups: the full check decides
        "2001:0:1234::/48",
        "1:2:3:4:5:6:7::/112",  # one zero group is not shortened
    ],
)
def test_other_spellings_go_to_the_full_check(value: str) -> None:
    assert not _fast(value)
    assert _ipv6_or_error(value) == _ipv6_parsed_or_error(value)
