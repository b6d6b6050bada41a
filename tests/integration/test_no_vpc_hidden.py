"""Issue 23: no VPC hidden, no live range handed out (new accounts mid-run, item limits,
reservations, TGW auto-association)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from collector.jobs.allocate import allocate
from collector.jobs.check import run_check
from collector.jobs.lookup import run_lookup
from collector.jobs.options import RunOptions, dynamodb_client
from collector.models import utc_now
from tests.faults import Faults
from tests.integration.conftest import FAST_RETRY, Org, now


def opts(org: Org, **kw: Any) -> RunOptions:
    return RunOptions(session=org.session, retry=FAST_RETRY, **kw)


# ---------------------------------------------------------------------------------------------
# 1. A new account's live VPC marked deleted


def test_an_account_vended_during_the_nightly_run_is_not_marked_gone(org: Org) -> None:
    """The run lists the organization, then a new account is vended and the pipeline checks
    it (writing its VPC), then the run's sweep runs: before, it marked that VPC
    `account-left-org`, and `lookup` said free."""
    org.run(at=now(1))
    late: dict[str, str] = {}
    orgs = org.session.client("organizations")

    def vended_after_listing(**_: Any) -> None:
        if late:
            return
        late["id"] = orgs.create_account(Email="late@example.com", AccountName="late")[
            "CreateAccountStatus"
        ]["AccountId"]
        late["vpc"] = org.create_vpc(late["id"], "us-east-1", "10.123.0.0/16", "vended")
        # The landing-zone pipeline's check of the new account, while the night runs.
        run_check(org.config(), [late["id"]], opts(org, regions=["us-east-1"]))

    org.session.events.register("after-call.organizations.ListAccounts", vended_after_listing)
    night = org.run(at=now(2))
    assert late and night.marked_deleted == 0
    item = org.table()[(late["vpc"], late["id"])]
    assert not item.Deleted
    found, _ = run_lookup(org.config(), ipaddress.ip_network("10.123.4.5/32"), options=opts(org))
    assert found.found


def test_an_account_gone_from_the_organization_is_still_marked(org: Org) -> None:
    org.run(at=now(1))
    sandbox = org.accounts["sandbox"]
    org.session.client("organizations").close_account(AccountId=sandbox)
    night = org.run(at=now(2))
    reasons = {v.DeletedReason for k, v in org.table().items() if k[1] == sandbox}
    assert night.marked_deleted > 0 and reasons == {"account-suspended"}


# ---------------------------------------------------------------------------------------------
# 2. Items over 400 KB


def huge_vpc(org: Org, subnets: int = 1000) -> str:
    """1,000 subnets with 256-character names and 50 tags of the longest key and value: an item
    of more than 400 KB (DynamoDB's limit), made by whoever administers the account."""
    ec2 = org.ec2("sandbox", "us-east-1")
    tags = [{"Key": f"k{n:03d}".ljust(128, "k"), "Value": "v" * 256} for n in range(49)]
    tags.append({"Key": "Name", "Value": "n" * 256})
    vpc = ec2.create_vpc(
        CidrBlock="10.150.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
    )["Vpc"]["VpcId"]
    net = ipaddress.ip_network("10.150.0.0/16")
    for n, sub in enumerate(net.subnets(new_prefix=26)):
        if n == subnets:
            break
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=str(sub),
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{n:04d}" * 64}]}
            ],
        )
    return str(vpc)


@pytest.mark.slow
def test_a_vpc_too_large_for_one_item_is_stored_whole(org: Org) -> None:
    vpc = huge_vpc(org)
    summary = org.run(at=now(1))
    assert summary.exit_code == 0, (summary.write_errors, summary.failures)
    stored = org.table()[(vpc, org.accounts["sandbox"])]
    assert len(stored.Subnets) == 1000 and not stored.Incomplete
    assert len(stored.Tags) == 50
    # What it holds is seen: lookup finds its subnet, allocate never hands its range out.
    found, _ = run_lookup(org.config(), ipaddress.ip_network("10.150.3.7/32"), options=opts(org))
    assert found.found and found.matches[0]["SubnetId"]
    block = allocate(
        dynamodb_client(org.session, org.config()),
        "VPCTracker",
        pool=ipaddress.ip_network("10.150.0.0/15"),
        prefix_length=16,
        reserved=[],
        now=utc_now,
    )
    assert block.cidr == "10.151.0.0/16"
    # A second night with fewer subnets rewrites it smaller; the stale parts are not read.
    ec2 = org.ec2("sandbox", "us-east-1")
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][:900]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    assert org.run(at=now(2)).exit_code == 0
    assert len(org.table()[(vpc, org.accounts["sandbox"])].Subnets) == 100


def test_an_item_dynamodb_refuses_whole_keeps_its_blocks(org: Org) -> None:
    """Whatever a split cannot bring under the limit: the VPC's blocks are stored anyway and
    the item is marked incomplete, so allocate and lookup still see the range."""
    from collector.store.vpcs import shrink, to_item
    from collector.store.writer import BatchWriter
    from tests.factories import make_vpc

    vpc = make_vpc(77, "10.160.0.0/16", owner=org.accounts["sandbox"]).model_copy(
        update={"Tags": {f"{n:06d}" * 20: "v" * 256 for n in range(2000)}}  # 600 KB of tags
    )
    ddb = dynamodb_client(org.session, org.config())
    with BatchWriter(ddb, "VPCTracker", shrink=shrink) as writer:
        writer.add(to_item(vpc))
    assert writer.stats.failed == 0 and [i[0] for i in writer.stats.incomplete] == [vpc.VpcId]
    stored = org.table()[vpc.key]
    assert stored.CidrBlocks == ("10.160.0.0/16",) and stored.Incomplete == ("Subnets", "Tags")
    found, _ = run_lookup(org.config(), ipaddress.ip_network("10.160.0.0/24"), options=opts(org))
    assert found.found


# ---------------------------------------------------------------------------------------------
# 3. Reservations in check


def test_check_sees_a_vpc_built_inside_another_account_s_reservation(org: Org) -> None:
    ddb = dynamodb_client(org.session, org.config())
    org.run(at=now(1))
    owner = org.accounts["sandbox"]
    reserved = allocate(
        ddb,
        "VPCTracker",
        pool=ipaddress.ip_network("10.201.0.0/16"),
        prefix_length=16,
        reserved=[],
        now=utc_now,
        reserve_for=owner,
    )
    assert reserved.cidr == "10.201.0.0/16"
    org.create_vpc("workload-b", "us-east-1", "10.201.0.0/20", "squatter")
    result = run_check(org.config(), [org.accounts["workload-b"]], opts(org))
    assert result.exit_code == 3, result.to_dict()["audit"]["summary"]
    (taken,) = result.to_dict()["audit"]["reservation_overlaps"]
    assert (taken["Cidr"], taken["ReservedFor"], taken["VpcCidr"]) == (
        "10.201.0.0/16",
        owner,
        "10.201.0.0/20",
    )
    # The owner's matching VPC releases the reservation, and is no finding of its own.
    org.create_vpc("sandbox", "us-east-1", "10.201.0.0/16", "the-real-one")
    mine = run_check(org.config(), [owner], opts(org))
    assert mine.summary.reservations_released == ["10.201.0.0/16"]
    assert mine.to_dict()["audit"]["reservation_overlaps"] == []


# ---------------------------------------------------------------------------------------------
# 4. TGW conflicts of a new attachment


class CrossAccountTgw:
    """What AWS shows once a member attaches its VPC to a TGW another account owns, with
    automatic association and propagation: the attachment in both accounts' answers, and in the
    owner's route table. moto keeps TGWs per account, so the answers are completed here."""

    def __init__(self, org: Org, owner: str, tgw: str, rtb: str, region: str) -> None:
        self.org, self.owner, self.tgw, self.rtb, self.region = org, owner, tgw, rtb, region
        self.attached: dict[str, tuple[str, str]] = {}  # attachment id -> (account, vpc)
        self.unrouted: set[str] = set()  # attached, but neither associated nor propagated
        faults = Faults(org.session).install()
        ev = org.session.events
        ev.register("after-call.ec2.DescribeTransitGatewayAttachments", self._attachments)
        ev.register("after-call.ec2.GetTransitGatewayRouteTableAssociations", self._associations)
        ev.register("after-call.ec2.GetTransitGatewayRouteTablePropagations", self._propagations)
        self.faults = faults

    def attach(self, account: str, vpc: str) -> str:
        att = f"tgw-attach-0{len(self.attached):016x}"
        self.attached[att] = (account, vpc)
        return att

    def unroute(self, att: str) -> None:
        """The owner disassociates the attachment and disables its propagation."""
        self.unrouted.add(att)

    def detach(self, att: str) -> None:
        """The VPC's owner deletes the attachment: gone from both accounts' answers and from
        the owner's route table."""
        del self.attached[att]
        self.unrouted.discard(att)

    def _routed(self) -> dict[str, tuple[str, str]]:
        return {a: v for a, v in self.attached.items() if a not in self.unrouted}

    def _attachments(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("client_region") != self.region:
            return  # a TGW and its attachments are regional
        who = context.get("fault_account")
        for att, (account, vpc) in self.attached.items():
            if who not in (account, self.owner):
                continue
            answer: dict[str, Any] = {
                "TransitGatewayAttachmentId": att,
                "TransitGatewayId": self.tgw,
                "TransitGatewayOwnerId": self.owner,
                "ResourceOwnerId": account,
                "ResourceType": "vpc",
                "ResourceId": vpc,
                "State": "available",
            }
            if att not in self.unrouted:
                answer["Association"] = {
                    "TransitGatewayRouteTableId": self.rtb,
                    "State": "associated",
                }
            parsed.setdefault("TransitGatewayAttachments", []).append(answer)

    def _associations(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("fault_account") == self.owner:
            for att, (_, vpc) in self._routed().items():
                parsed.setdefault("Associations", []).append(
                    {
                        "TransitGatewayAttachmentId": att,
                        "ResourceId": vpc,
                        "ResourceType": "vpc",
                        "State": "associated",
                    }
                )

    def _propagations(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("fault_account") == self.owner:
            for att, (_, vpc) in self._routed().items():
                parsed.setdefault("TransitGatewayRouteTablePropagations", []).append(
                    {
                        "TransitGatewayAttachmentId": att,
                        "ResourceId": vpc,
                        "ResourceType": "vpc",
                        "State": "enabled",
                    }
                )


def network_account(org: Org) -> CrossAccountTgw:
    """The management account's TGW and route table, with its own 10.60.0.0/16 attached."""
    hub = org.ec2("management", "us-east-1")
    tgw = hub.create_transit_gateway(
        Description="network",
        Options={
            "DefaultRouteTableAssociation": "disable",
            "DefaultRouteTablePropagation": "disable",
        },
    )["TransitGateway"]["TransitGatewayId"]
    rtb = hub.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
        "TransitGatewayRouteTableId"
    ]
    vpc = org.create_vpc("management", "us-east-1", "10.60.0.0/16", "shared")
    subnet = hub.create_subnet(VpcId=vpc, CidrBlock="10.60.0.0/24")["Subnet"]["SubnetId"]
    att = hub.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet]
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    hub.associate_transit_gateway_route_table(
        TransitGatewayRouteTableId=rtb, TransitGatewayAttachmentId=att
    )
    hub.enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=rtb, TransitGatewayAttachmentId=att
    )
    return CrossAccountTgw(org, org.management, tgw, rtb, "us-east-1")


def test_check_of_a_new_attachment_sees_the_conflict_through_the_owner_s_tgw(org: Org) -> None:
    """Before: the routing domain came from the owner's stored route tables, which the new
    attachment changed with no call in the owner's account: the check said latent."""
    net = network_account(org)
    org.run(at=now(1))  # the night before: the TGW reaches only the shared VPC
    sandbox = org.accounts["sandbox"]
    vpc = org.create_vpc("sandbox", "us-east-1", "10.60.0.0/16", "attached")
    net.attach(sandbox, vpc)
    result = run_check(org.config(), [sandbox], opts(org), fail_on=frozenset({"conflict"}))
    shape = result.to_dict()
    assert result.exit_code == 3, shape["audit"]["overlap_groups"]
    (group,) = [g for g in shape["audit"]["overlap_groups"] if g["span"] == "10.60.0.0/16"]
    # (moto may also hand the TGW a default route table: the order of the two is not fixed)
    assert group["severity"] == "conflict" and net.rtb in {c["at"] for c in group["conflicts"]}
    assert shape["scan_complete"] is True


def test_an_attachment_event_rescans_the_tgw_owner(org: Org, monkeypatch: Any) -> None:
    from collector.handler import handler
    from tests.integration.test_handler import Context
    from tests.integration.test_live import event_for

    for var, value in (
        ("VPCTRACKER_TABLE", "VPCTracker"),
        ("VPCTRACKER_REGIONS", "us-east-1,eu-west-1"),
        ("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"]),
    ):
        monkeypatch.setenv(var, value)
    net = network_account(org)
    org.run(at=utc_now() - timedelta(hours=1))
    sandbox = org.accounts["sandbox"]
    vpc = org.create_vpc("sandbox", "us-east-1", "10.60.0.0/16", "attached")
    net.attach(sandbox, vpc)
    calls: list[str] = []
    org.session.events.register(
        "before-call.ec2.GetTransitGatewayRouteTableAssociations",
        lambda **kw: calls.append("owner"),
    )
    event = event_for(org, "sandbox", "us-east-1", "CreateTransitGatewayVpcAttachment")
    answer = handler(event, Context(), session=org.session)
    assert answer["ok"] is True and calls  # the owner's route tables were read again
    stored = {k: v for k, v in org.table().items()}
    assert (vpc, sandbox) in stored
    # An event that changes no attachment does not rescan the owner.
    calls.clear()
    handler(event_for(org, "sandbox", "us-east-1", "CreateVpc"), Context(), session=org.session)
    assert not calls


def test_follow_up_owner_rescans_count_in_the_check(org: Org) -> None:
    """A failed owner rescan makes the check incomplete, not clean: its verdict would rest on
    stale routes."""
    net = network_account(org)
    org.run(at=now(1))
    sandbox = org.accounts["sandbox"]
    vpc = org.create_vpc("sandbox", "us-east-1", "10.61.0.0/16", "attached")
    net.attach(sandbox, vpc)
    net.faults.error(
        "ec2",
        "DescribeTransitGatewayRouteTables",
        "UnauthorizedOperation",
        status=403,
        account=org.management,
    )
    result = run_check(
        org.config(),
        [sandbox],
        replace(opts(org), retry=FAST_RETRY),
        fail_on=frozenset({"conflict"}),
    )
    assert result.exit_code == 2 and not result.scan_complete
