"""The HTML report in a real browser: headless Chromium (Debian's chromium + chromium-driver,
installed by .ci/run) driven by Selenium. Never a browser download."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.analysis import build_audit
from collector.analysis.conflicts import Connections
from collector.config import ReservedCidr
from collector.models import Peering, PeeringSide, Subnet, Vpc
from collector.report.data import INVENTORY_COLUMNS
from collector.report.page import render_html
from tests.reliability.test_hostile import HOSTILE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def inventory(n: int = 10_000) -> list[Vpc]:
    """10,000 VPCs over 500 accounts, two deliberate clashes and one default VPC."""
    out = []
    for i in range(n):
        owner = f"{200000000000 + i % 500:012d}"
        cidr = (
            f"10.{i // 256 % 256}.{i % 256}.0/24"
            if i < 8000
            else f"100.{64 + i % 64}.{i % 250}.0/24"
        )
        out.append(
            Vpc(
                VpcId=f"vpc-{i:017x}",
                OwnerId=owner,
                CidrBlock=cidr,
                IsDefault=False,
                State="available",
                Region="eu-west-1",
                AccountName=f"acct-{i % 500}",
                CidrBlocks=(cidr,),
                Name=f"vpc-name-{i}",
                FirstSeen=T,
                LastSeen=T,
            )
        )
    clash = Vpc(
        VpcId="vpc-00000000000fffff0",
        OwnerId="999999999999",
        CidrBlock="10.0.0.0/16",
        IsDefault=False,
        State="available",
        Region="us-east-1",
        AccountName="intruder",
        CidrBlocks=("10.0.0.0/16",),
        Name="clashing",
        Subnets=(
            Subnet(
                SubnetId="subnet-0000000000000c1a5",
                CidrBlock="10.0.200.0/24",
                AvailabilityZone="us-east-1a",
                AvailableIpAddressCount=200,
                Name="app",
            ),
        ),
        FirstSeen=T,
        LastSeen=T,
    )
    lab = clash.model_copy(
        update={
            "VpcId": "vpc-00000000000fffff1",
            "CidrBlock": "192.168.9.0/24",
            "CidrBlocks": ("192.168.9.0/24",),
            "Ipv6CidrBlocks": ("2600:1f18:4c3:a00::/56",),
            "Subnets": (),
            "Name": "lab",
        }
    )
    default = clash.model_copy(
        update={
            "VpcId": "vpc-00000000000fffff2",
            "IsDefault": True,
            "CidrBlock": "172.31.0.0/16",
            "CidrBlocks": ("172.31.0.0/16",),
            "Subnets": (),
        }
    )
    return [*out, clash, lab, default]


@pytest.fixture
def driver() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium/chromium-driver missing: .ci/run installs them with apt-get")
        pytest.skip(
            "Debian chromium + chromium-driver are not installed (apt-get install "
            "chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield d
    finally:
        d.quit()


def drawn(d: object) -> None:
    """Wait until the page's script has read its data and drawn its tables (it decompresses
    the data first, so that is after the document itself has loaded)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 60).until(  # type: ignore[arg-type]
        lambda x: x.execute_script("return document.documentElement.dataset.ready")
    )
    ready = d.execute_script("return document.documentElement.dataset.ready")  # type: ignore[attr-defined]
    assert ready == "1", ready


@pytest.mark.slow
def test_report_in_chromium(driver: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    d: WebDriver = driver  # type: ignore[assignment]
    audit = build_audit(inventory(), [ReservedCidr(cidr="192.168.0.0/16", name="corp")], now=T)
    page = tmp_path / "report.html"
    page.write_text(render_html(audit), encoding="utf-8")
    d.get(page.as_uri())
    drawn(d)
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    # The map: 10/8, 172.16/12, 192.168/16 and 100.64/10, 256 cells each.
    cells = d.find_elements(By.CSS_SELECTOR, "rect.cell")
    assert len(cells) == 4 * 256
    clash = d.find_element(By.CSS_SELECTOR, 'rect.clash[data-cidr="10.0.0.0/16"]')
    stroke = d.execute_script("return getComputedStyle(arguments[0]).stroke", clash)
    assert stroke == "rgb(224, 138, 0)"  # latent: dashed orange (a conflict is solid red)
    assert d.find_elements(By.CSS_SELECTOR, 'rect.clash[data-cidr="192.168.9.0/24"]')
    # Readable without color: every clash cell carries a "!" mark too.
    marks = d.find_elements(By.CSS_SELECTOR, "svg.grid text.mark")
    assert len([m for m in marks if m.text == "!"]) == len(
        d.find_elements(By.CSS_SELECTOR, "rect.clash")
    )
    # Default VPCs are marked as such ("d"), not drawn as a clash between accounts.
    assert d.find_elements(By.CSS_SELECTOR, 'rect.default[data-cidr="172.31.0.0/20"]')
    # Clicking a cell shows its VPCs, with their subnets.
    clash.click()
    detail = d.find_element(By.ID, "detail").text
    assert "vpc-00000000000fffff0" in detail and "intruder" in detail and "overlap" in detail
    assert "subnet-0000000000000c1a5 app" in detail and "us-east-1a" in detail
    assert "20.3% used" in detail  # (251 - 200) of 251 usable addresses
    # The tables the script draws from the data block: the overlap group (its first row is its
    # anchor), every account, and the IPv6 blocks by /48.
    group = d.find_elements(By.CSS_SELECTOR, '#overlaps tr[id="group-10.0.0.0/16"]')
    assert len(group) == 1 and "vpc-00000000000fffff0" in group[0].text
    assert "clashing" in group[0].text and "latent" in group[0].text
    members = d.find_elements(By.CSS_SELECTOR, "#overlaps #groups tbody tr")
    # The /16 and the 256 /24s inside it; the lab /24 and the reserved range holding it.
    assert len(members) == 257 + 2
    assert d.find_element(By.ID, "group-192.168.0.0/16").text.split()[-2:] == ["reserved:", "corp"]
    assert len(d.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")) == 501
    (six,) = d.find_elements(By.CSS_SELECTOR, "#ipv6 tbody tr")
    assert six.text.split() == [
        "2600:1f18:4c3::/48",
        "2600:1f18:4c3:a00::/56",
        "vpc-00000000000fffff1",
        "999999999999",
        "intruder",
        "us-east-1",
        "lab",
    ]
    # The filter, typed with the keyboard, narrows the tables.
    label = d.find_element(By.CSS_SELECTOR, 'label[for="filter"]')
    assert label.text == "Filter"
    box = d.find_element(By.ID, "filter")
    box.send_keys("acct-42")
    WebDriverWait(d, 10).until(lambda x: x.find_element(By.ID, "filter-count").text)
    visible = [
        r for r in d.find_elements(By.CSS_SELECTOR, "#accounts tbody tr") if r.is_displayed()
    ]
    assert {r.find_elements(By.TAG_NAME, "td")[1].text for r in visible} == {
        "acct-42",
        "acct-420",
        "acct-421",
        "acct-422",
        "acct-423",
        "acct-424",
        "acct-425",
        "acct-426",
        "acct-427",
        "acct-428",
        "acct-429",
    }
    # The lookup box finds who holds an address, and says when nobody does (issue 14).
    look = d.find_element(By.ID, "lookup")
    look.send_keys("10.0.200.7")
    result = d.find_element(By.ID, "lookup-result").text
    assert "vpc-00000000000fffff0" in result and "subnet-0000000000000c1a5 10.0.200.0/24" in result
    look.clear()
    look.send_keys("10.0.100.7")
    result = d.find_element(By.ID, "lookup-result").text
    assert "vpc-00000000000fffff0" in result and "in no subnet" in result
    look.clear()
    look.send_keys("172.20.0.1")
    assert d.find_element(By.ID, "lookup-result").text.startswith("free")
    look.clear()
    look.send_keys("192.168.200.1")
    assert "corp (192.168.0.0/16)" in d.find_element(By.ID, "lookup-result").text
    assert d.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
def test_hostile_names_leave_the_report_working(driver: object, tmp_path: Path) -> None:
    """Issue 11, observation 1: `<!--<script>` in a Name used to swallow the page's script."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    d: WebDriver = driver  # type: ignore[assignment]
    vpcs = []
    for i, name in enumerate(HOSTILE):
        base = inventory(1)[0]
        vpcs.append(
            base.model_copy(
                update={
                    "VpcId": f"vpc-{i + 1:017x}",
                    "OwnerId": f"{300000000000 + i:012d}",
                    "AccountName": name,
                    "Name": name,
                    "Tags": {"Name": name},
                    "CidrBlock": "10.5.0.0/16",
                    "CidrBlocks": ("10.5.0.0/16",),
                }
            )
        )
    page = tmp_path / "hostile.html"
    page.write_text(render_html(build_audit(vpcs, [], now=T)), encoding="utf-8")
    d.get(page.as_uri())
    drawn(d)
    assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text  # noqa: B018 - reading it is the check
    assert d.execute_script("return document.querySelectorAll('img').length") == 0
    assert d.execute_script("return document.scripts.length") == 2
    # The map still works: the clash cell lists every hostile name as plain text.
    d.find_element(By.CSS_SELECTOR, 'rect.clash[data-cidr="10.5.0.0/16"]').click()
    detail = d.find_element(By.ID, "detail").text
    for name in ("<!--<script>", "</script><img src=x onerror=alert(1)>", "\u202eevil"):
        assert name in detail
    # And so does the filter.
    d.find_element(By.ID, "filter").send_keys("hyperlink")
    WebDriverWait(d, 10).until(lambda x: x.find_element(By.ID, "filter-count").text)
    shown = [r for r in d.find_elements(By.CSS_SELECTOR, "#accounts tbody tr") if r.is_displayed()]
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in shown] == ['=HYPERLINK("http://x")']


def conflict_world() -> tuple[list[Vpc], Connections]:
    """inventory() plus a hub peered with two VPCs that share 10.250.0.0/16 (a conflict), a
    third copy no network reaches it with (latent for it), a latent pair 10.251.0.0/16, a
    /28 (smaller than a cell) and a second region."""
    vpcs = inventory()
    base = vpcs[-3]

    def vpc(n: int, owner: str, cidr: str, name: str, region: str = "us-east-1") -> Vpc:
        return base.model_copy(
            update={
                "VpcId": f"vpc-0000000000abc{n:04x}",
                "OwnerId": owner,
                "AccountName": f"team-{n}",
                "CidrBlock": cidr,
                "CidrBlocks": (cidr,),
                "Name": name,
                "Region": region,
            }
        )

    hub = vpc(1, "111111111111", "10.249.0.0/16", "hub")
    a = vpc(2, "222222222222", "10.250.0.0/16", "app-a")
    b = vpc(3, "333333333333", "10.250.0.0/16", "app-b")
    lone = vpc(4, "444444444444", "10.250.128.0/20", "sandbox")
    x = vpc(5, "555555555555", "10.251.0.0/16", "x")
    y = vpc(6, "666666666666", "10.251.0.0/16", "y", region="ap-south-1")
    tiny = vpc(7, "777777777777", "100.127.0.0/28", "tiny", region="ap-south-1")
    peerings = tuple(
        Peering(
            Id=f"pcx-0000000000000000{i}",
            Status="active",
            Requester=PeeringSide(VpcId=hub.VpcId, OwnerId=hub.OwnerId, Region="us-east-1"),
            Accepter=PeeringSide(VpcId=v.VpcId, OwnerId=v.OwnerId, Region="us-east-1"),
        )
        for i, v in enumerate((a, b), 1)
    )
    return [*vpcs, hub, a, b, lone, x, y, tiny], Connections(peerings=peerings)


@pytest.mark.slow
def test_the_network_engineers_report_in_chromium(driver: object, tmp_path: Path) -> None:
    """Issue 24: axis labels, conflict drawn unlike latent, the inventory table (sort, filter,
    group by region) and its CSV download holding every live VPC."""
    import csv
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    d: WebDriver = driver  # type: ignore[assignment]
    vpcs, connections = conflict_world()
    audit = build_audit(vpcs, [], now=T, connections=connections)
    page = tmp_path / "report.html"
    page.write_text(render_html(audit), encoding="utf-8")
    d.get(page.as_uri())
    drawn(d)
    assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []

    # Axis labels, readable without hovering: each row's first block, each column's offset.
    first_grid = d.find_elements(By.CSS_SELECTOR, "svg.grid")[0]
    rows = [t.text for t in first_grid.find_elements(By.CSS_SELECTOR, "text.axis.row")]
    cols = [t.text for t in first_grid.find_elements(By.CSS_SELECTOR, "text.axis.col")]
    assert rows[:3] == ["10.0.0.0", "10.16.0.0", "10.32.0.0"] and len(rows) == 16
    assert cols == [f"+{i}" for i in range(16)]
    assert all(t.is_displayed() for t in first_grid.find_elements(By.CSS_SELECTOR, "text.axis"))

    # Conflict and latent cells look different (stroke, dash and mark), so the one to act on
    # stands out; the mark says it without color.
    def look(cidr: str) -> tuple[str, str, str]:
        cell = d.find_element(By.CSS_SELECTOR, f'rect.cell[data-cidr="{cidr}"]')
        style = d.execute_script(
            "var s = getComputedStyle(arguments[0]);"
            "return [s.stroke, s.strokeDasharray, s.strokeWidth];",
            cell,
        )
        return tuple(style)  # type: ignore[return-value]

    conflict, latent = look("10.250.0.0/16"), look("10.251.0.0/16")
    assert conflict != latent
    assert conflict[0] == "rgb(176, 0, 0)" and conflict[1] == "none"
    assert latent[0] == "rgb(224, 138, 0)" and latent[1] != "none"
    marks = {m.text for m in d.find_elements(By.CSS_SELECTOR, "svg.grid text.mark")}
    assert {"!!", "!"} <= marks
    # The conflict names the hub with its account and Name, one line for the pair.
    via = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#overlaps tr.via")]
    assert len(via) == 1 and '"hub"' in via[0] and "111111111111 (team-1)" in via[0]
    # A VPC smaller than its cell is drawn as a share of it.
    tiny = d.find_element(By.CSS_SELECTOR, 'rect.cell[data-cidr="100.127.0.0/18"]')
    assert "partial" in tiny.get_attribute("class")
    # The headroom table names the VPC; account ids do not wrap under their swatch.
    nowrap = d.execute_script(
        "return getComputedStyle(document.querySelector('#accounts td.acct')).whiteSpace"
    )
    assert nowrap == "nowrap"

    # The inventory: every live VPC, sortable, filterable, grouped by region on demand.
    table = d.find_element(By.ID, "inv-table")
    d.execute_script("arguments[0].scrollIntoView()", table)
    count = d.find_element(By.ID, "inv-count").text
    assert count.startswith(f"{len(vpcs)} of {len(vpcs)} VPCs")

    def column(name: str) -> list[str]:
        # One script for the whole column: a WebDriver call per cell was a minute of CI for
        # the thousand rows drawn.
        cells: list[str] = d.execute_script(
            "var t = arguments[0], heads = Array.from(t.querySelectorAll('thead th'));"
            "var i = heads.map(function(h){ return h.innerText.split(' ')[0]; })"
            ".indexOf(arguments[1]);"
            "return Array.from(t.querySelectorAll('tbody tr.inv'))"
            ".map(function(r){ return r.querySelectorAll('td')[i].innerText.trim(); });",
            table,
            name,
        )
        return cells

    header = table.find_element(By.CSS_SELECTOR, 'thead th[data-col="Name"]')
    header.click()
    names = column("Name")
    assert names == sorted(names, key=str.lower)
    table.find_element(By.CSS_SELECTOR, 'thead th[data-col="Name"]').click()  # descending
    assert (
        column("Name")[0] == "y"
        and table.find_element(By.CSS_SELECTOR, 'thead th[data-col="Name"]').get_attribute(
            "aria-sort"
        )
        == "descending"
    )
    box = d.find_element(By.ID, "inv-filter")
    box.send_keys("team-")
    WebDriverWait(d, 10).until(lambda x: x.find_element(By.ID, "inv-count").text.startswith("7 "))
    assert sorted(column("AccountName")) == [f"team-{i}" for i in range(1, 8)]
    box.clear()
    box.send_keys("10.250.128.0/17")  # a CIDR: the VPCs overlapping it
    WebDriverWait(d, 10).until(lambda x: x.find_element(By.ID, "inv-count").text.startswith("3 "))
    assert sorted(column("Name")) == ["app-a", "app-b", "sandbox"]
    box.clear()
    box.send_keys("ap-south-1")
    WebDriverWait(d, 10).until(lambda x: x.find_element(By.ID, "inv-count").text.startswith("2 "))
    d.find_element(By.ID, "inv-group").click()
    groups = [g.text for g in table.find_elements(By.CSS_SELECTOR, "tbody tr.region")]
    assert groups == ["ap-south-1 (2)"]
    box.clear()
    box.send_keys(" ")  # back to everything (a blank filter)
    WebDriverWait(d, 10).until(
        lambda x: x.find_element(By.ID, "inv-count").text.startswith(f"{len(vpcs)} of")
    )
    groups = [g.text.split(" ")[0] for g in table.find_elements(By.CSS_SELECTOR, "tbody tr.region")]
    assert groups[0] == "ap-south-1"
    d.find_element(By.ID, "inv-group").click()

    # The CSV download holds every live VPC (not only the rows drawn), as the CLI writes it.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    d.find_element(By.ID, "inv-csv").click()
    target = downloads / "vpc-inventory.csv"
    # Chrome may create the file before it has written it (it was read empty once, under a
    # loaded CI run): wait until it holds something and its size has settled.
    deadline, last = time.monotonic() + 30, -1
    while time.monotonic() < deadline:
        size = target.stat().st_size if target.exists() else -1
        if size > 0 and size == last:
            break
        last = size
        time.sleep(0.2)
    text = target.read_text(encoding="utf-8")
    table_rows = list(csv.DictReader(text.splitlines()))
    assert sorted(r["VpcId"] for r in table_rows) == sorted(v.VpcId for v in vpcs)
    assert list(table_rows[0]) == list(INVENTORY_COLUMNS)
    assert all(line.startswith('"') for line in text.splitlines())
    hub = next(r for r in table_rows if r["Name"] == "hub")
    assert hub["CidrBlocks"] == "10.249.0.0/16" and hub["IsDefault"] == "False"


@pytest.mark.slow
def test_the_published_page_opens_from_s3_at_its_anchors(
    driver: object, moto_url: str, tmp_path: Path
) -> None:
    """Issue 27: a notification's presigned link opens the page straight from the bucket, at the
    finding's group or at the VPC's row."""
    import boto3
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    from collector.config import Config
    from collector.jobs.options import RunOptions
    from collector.jobs.publish import publish_report

    d: WebDriver = driver  # type: ignore[assignment]
    vpcs, connections = conflict_world()
    audit = build_audit(vpcs[-20:], [], now=T, connections=connections)
    session = boto3.Session(region_name="us-east-1")
    session.client("s3").create_bucket(Bucket="reports")
    config = Config.model_validate(
        {"report": {"bucket": "reports"}, "notify": {"presign_hours": 1}}
    )
    published = publish_report(config, audit, RunOptions(session=session), dated=True)
    assert published.link is not None and published.link.url is not None
    assert published.link.url.startswith(moto_url)
    group = next(g for g in audit.overlap_groups if g.severity == "conflict")
    d.get(published.link.to(f"group-{group.span}"))
    drawn(d)
    assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []
    row = d.find_element(By.ID, f"group-{group.span}")
    assert "target" in row.get_attribute("class")
    in_view = (
        "var r = arguments[0].getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= innerHeight;"
    )
    assert d.execute_script(in_view, row)
    vpc = next(v for v in vpcs[-20:] if v.Name == "sandbox")
    d.get(published.link.to(f"vpc-{vpc.VpcId}"))
    WebDriverWait(d, 30).until(lambda x: x.find_elements(By.ID, f"vpc-{vpc.VpcId}"))
    target = d.find_element(By.ID, f"vpc-{vpc.VpcId}")
    assert "target" in target.get_attribute("class") and target.is_displayed()
    assert d.execute_script(in_view, target)
