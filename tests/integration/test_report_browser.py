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
from collector.config import ReservedCidr
from collector.models import Vpc
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
        FirstSeen=T,
        LastSeen=T,
    )
    lab = clash.model_copy(
        update={
            "VpcId": "vpc-00000000000fffff1",
            "CidrBlock": "192.168.9.0/24",
            "CidrBlocks": ("192.168.9.0/24",),
            "Name": "lab",
        }
    )
    default = clash.model_copy(
        update={
            "VpcId": "vpc-00000000000fffff2",
            "IsDefault": True,
            "CidrBlock": "172.31.0.0/16",
            "CidrBlocks": ("172.31.0.0/16",),
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
    WebDriverWait(d, 30).until(
        lambda x: x.execute_script("return document.readyState") == "complete"
    )
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    # The map: 10/8, 172.16/12, 192.168/16 and 100.64/10, 256 cells each.
    cells = d.find_elements(By.CSS_SELECTOR, "rect.cell")
    assert len(cells) == 4 * 256
    clash = d.find_element(By.CSS_SELECTOR, 'rect.clash[data-cidr="10.0.0.0/16"]')
    stroke = d.execute_script("return getComputedStyle(arguments[0]).stroke", clash)
    assert stroke == "rgb(204, 0, 0)"
    assert d.find_elements(By.CSS_SELECTOR, 'rect.clash[data-cidr="192.168.9.0/24"]')
    # Readable without color: every clash cell carries a "!" mark too.
    marks = d.find_elements(By.CSS_SELECTOR, "svg.grid text.mark")
    assert len([m for m in marks if m.text == "!"]) == len(
        d.find_elements(By.CSS_SELECTOR, "rect.clash")
    )
    # Default VPCs are marked as such ("d"), not drawn as a clash between accounts.
    assert d.find_elements(By.CSS_SELECTOR, 'rect.default[data-cidr="172.31.0.0/20"]')
    # Clicking a cell shows its VPCs.
    clash.click()
    detail = d.find_element(By.ID, "detail").text
    assert "vpc-00000000000fffff0" in detail and "intruder" in detail and "overlap" in detail
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
    WebDriverWait(d, 30).until(
        lambda x: x.execute_script("return document.readyState") == "complete"
    )
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
