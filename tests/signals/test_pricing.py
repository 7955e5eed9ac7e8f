"""2030.5 Pricing over real TLS: the tariff tree's shapes, the client's reading of it, the operator's verbs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from flexbench.signals.csip import CsipClient, ServerThread
from flexbench.signals.csip.price_schedule import PriceSchedule
from flexbench.signals.csip.prices import PriceError, PriceInterval, price_schedule, read_price_file
from flexbench.signals.csip.xmlio import SEP_NS
from flexbench.signals.pki import TestPKI

from .conftest import http_for
from .test_restart_and_cli import flexbench

NS = {"s": SEP_NS}


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("pricing") / "state.db", pki.directory) as srv:
        for name in ("dev-a", "dev-b"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        yield srv


def _schedule(now_s: int) -> list[dict[str, object]]:
    """A cheap interval in force now (with a dearer block above 10 kWh and an export price), an expensive one next."""
    return [
        {
            "start": now_s - 10,
            "duration_s": 600,
            "import_price_per_kwh": 0.08,
            "export_price_per_kwh": 0.03,
            "import_blocks": [[10, 0.12]],
        },
        {"start": now_s + 590, "duration_s": 600, "import_price_per_kwh": 0.45},
    ]


def _children(body: bytes) -> list[str]:
    return [etree.QName(e).localname for e in etree.fromstring(body)]


def test_the_tariff_tree_has_the_standards_shapes(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    edev = server.headend.device(lfdi).id
    http = http_for(server.url, pki, pki.device_identity("dev-a"))
    assert b"TariffProfileListLink" not in http.get(f"/edev/{edev}/fsa/1").body  # no tariff, no link
    published = server.headend.publish_prices(lfdi, _schedule(int(time.time())))
    tp = published["href"]

    fsa = etree.fromstring(http.get(f"/edev/{edev}/fsa/1").body)
    assert fsa.find("s:TariffProfileListLink", NS).get("href") == f"/edev/{edev}/fsa/1/tp"

    listing = http.get(f"/edev/{edev}/fsa/1/tp?l=10")
    assert listing.status == 200
    root = etree.fromstring(listing.body)
    assert (root.get("all"), root.get("results"), root.get("pollRate")) == ("1", "1", "900")
    profile = root.find("s:TariffProfile", NS)
    assert [etree.QName(e).localname for e in profile] == [
        "mRID",
        "description",
        "version",
        "currency",
        "pricePowerOfTenMultiplier",
        "primacy",
        "RateComponentListLink",
        "serviceCategoryKind",
    ]
    assert profile.get("href") == tp and profile.findtext("s:pricePowerOfTenMultiplier", namespaces=NS) == "-4"

    components = etree.fromstring(http.get(f"{tp}/rc?l=10").body)
    assert components.get("all") == "2"
    first = components.find("s:RateComponent", NS)
    assert [etree.QName(e).localname for e in first] == [
        "mRID",
        "description",
        "ActiveTimeTariffIntervalListLink",
        "ReadingTypeLink",
        "roleFlags",
        "TimeTariffIntervalListLink",
    ]
    rc = first.get("href")
    reading_type = etree.fromstring(http.get(f"{rc}/rt").body)
    assert reading_type.findtext("s:flowDirection", namespaces=NS) == "1"  # import
    assert (
        reading_type.findtext("s:uom", namespaces=NS),
        reading_type.findtext("s:powerOfTenMultiplier", namespaces=NS),
    ) == ("72", "3")

    intervals = etree.fromstring(http.get(f"{rc}/tti?l=10").body)
    assert intervals.get("all") == "2"
    now_tti, next_tti = intervals.findall("s:TimeTariffInterval", NS)
    assert _children(etree.tostring(now_tti)) == [
        "mRID",
        "description",
        "version",
        "creationTime",
        "EventStatus",
        "interval",
        "ConsumptionTariffIntervalListLink",
        "touTier",
    ]
    assert now_tti.findtext("s:EventStatus/s:currentStatus", namespaces=NS) == "1"
    assert next_tti.findtext("s:EventStatus/s:currentStatus", namespaces=NS) == "0"
    assert (now_tti.findtext("s:touTier", namespaces=NS), next_tti.findtext("s:touTier", namespaces=NS)) == ("1", "2")
    paged = etree.fromstring(http.get(f"{rc}/tti?s=1&l=1").body)
    assert (paged.get("all"), paged.get("results")) == ("2", "1")
    assert paged.find("s:TimeTariffInterval", NS).get("href") == next_tti.get("href")
    active = etree.fromstring(http.get(f"{rc}/acttti?l=10").body)
    assert [e.get("href") for e in active] == [now_tti.get("href")]

    blocks = etree.fromstring(http.get(f"{now_tti.get('href')}/cti?l=10").body)
    assert [_children(etree.tostring(b)) for b in blocks] == [["consumptionBlock", "price", "startValue"]] * 2
    assert [(b.findtext("s:price", namespaces=NS), b.findtext("s:startValue", namespaces=NS)) for b in blocks] == [
        ("800", "0"),
        ("1200", "10"),
    ]
    assert http.get(f"{now_tti.get('href')}/cti/2").status == 200
    assert http.get(f"{now_tti.get('href')}/cti/3").status == 404
    assert http.get(f"{tp}/rc/99").status == 404

    other = http_for(server.url, pki, pki.device_identity("dev-b"))
    assert other.get(f"{rc}/tti").status == 403  # a device sees only its own tariffs


def test_publishing_tells_subscribers_of_the_tariff_lists(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    changed: list[set[str]] = []
    server.headend.listeners.append(lambda edev_id, hrefs: changed.append(hrefs))
    tp = server.headend.publish_prices(lfdi, _schedule(int(time.time())))["href"]
    edev = server.headend.device(lfdi).id
    assert {f"/edev/{edev}/fsa/1/tp", f"{tp}/rc", f"{tp}/rc/1/tti", f"{tp}/rc/2/tti"} <= changed[-1]


def test_a_newer_schedule_supersedes_the_intervals_it_overlaps(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    now_s = int(time.time())
    server.headend.publish_prices(lfdi, _schedule(now_s))
    again = server.headend.publish_prices(
        lfdi, [{"start": now_s + 300, "duration_s": 600, "import_price_per_kwh": 0.2}]
    )
    assert len(again["superseded"]) == 2  # both import intervals overlap it; the export one has no export price here
    statuses = {(r["flow"], r["start_s"]): r["status"] for r in server.headend.prices(lfdi)}
    assert statuses[("import", now_s - 10)] == 1  # superseded only from the newer one's start, 300 s on
    assert statuses[("import", now_s + 590)] == 0
    server.headend.deregister_device(lfdi)  # its tariffs go with it
    server.headend.register_device(lfdi)
    assert server.headend.prices(lfdi) == []


def test_the_client_reads_the_price_in_force_and_the_schedule(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    now_s = int(time.time())
    server.headend.publish_prices(lfdi, _schedule(now_s))
    ident = pki.device_identity("dev-a")
    seen: list[PriceSchedule] = []

    async def read() -> CsipClient:
        client = CsipClient(server.url, pki.ca_cert_path, ident.cert_path, ident.key_path, on_prices=seen.append)
        await client.discover()
        await client.poll()
        await client.stop()
        return client

    client = asyncio.run(read())
    prices = client.prices
    assert seen == [prices]
    assert prices.price_at(now_s) == pytest.approx(0.08)
    assert prices.price_at(now_s, "export") == pytest.approx(0.03)
    assert prices.price_at(now_s + 700) == pytest.approx(0.45)
    assert prices.price_at(now_s + 700, "export") is None
    assert prices.price_at(now_s + 2000) is None
    upcoming = prices.upcoming(now_s)
    assert [p.price_per_kwh for p in upcoming] == pytest.approx([0.08, 0.45])
    assert [b for block in upcoming[0].blocks for b in block] == pytest.approx([0.0, 0.08, 10.0, 0.12])


def test_the_operator_publishes_a_price_file_and_bad_files_name_row_and_column(
    server: ServerThread, pki: TestPKI, tmp_path: Path
) -> None:
    lfdi = pki.device_identity("dev-b").lfdi
    common = ("--server", server.url, "--certs", str(pki.directory))
    now_s = int(time.time())
    good = tmp_path / "prices.csv"
    good.write_text(
        f"start,duration_s,import_price_per_kwh,export_price_per_kwh\n{now_s},900,0.10,0.02\n{now_s + 900},900,0.40,\n"
    )
    done = flexbench("csip", "prices", "publish", "--site", lfdi, str(good), *common)
    assert done.returncode == 0, done.stderr
    assert "published 2 price intervals (2 import, 1 export" in done.stdout
    listed = flexbench("csip", "prices", "list", "--site", lfdi, "--json", *common)
    assert sorted(r["price_per_kwh"] for r in json.loads(listed.stdout)) == [0.02, 0.1, 0.4]

    bad = tmp_path / "bad.csv"
    bad.write_text(f"start,duration_s,import_price_per_kwh\n{now_s},900,0.1\n{now_s + 900},900,cheap\n")
    refused = flexbench("csip", "prices", "publish", "--site", lfdi, str(bad), *common)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        f"flexbench csip: {bad}: line 3: import_price_per_kwh: expected a number, got 'cheap'"
    ]
    assert len(json.loads(flexbench("csip", "prices", "list", "--site", lfdi, "--json", *common).stdout)) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start,import_price_per_kwh\n0,0.1\n", "line 1 (header): missing column(s) duration_s"),
        ("start,duration_s,import_price_per_kwh\nsoon,60,0.1\n", "line 2: start 'soon' is neither"),
        ("start,duration_s,import_price_per_kwh\n0,0,0.1\n", "line 2: duration_s: must be positive"),
        ("start,duration_s,import_price_per_kwh\n0,60,0.1\n30,60,0.2\n", "intervals starting at 0 and 30 overlap"),
    ],
)
def test_price_file_errors_name_the_file_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(PriceError) as caught:
        read_price_file(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_a_json_schedule_with_blocks_and_a_bad_block() -> None:
    parsed = price_schedule([{"start": 0, "duration_s": 60, "import_price_per_kwh": 0.1, "import_blocks": [[5, 0.2]]}])
    assert parsed == [PriceInterval(0, 60, 0.1, None, ((5.0, 0.2),))]
    with pytest.raises(PriceError, match="interval 0: import_blocks"):
        price_schedule([{"start": 0, "duration_s": 60, "import_price_per_kwh": 0.1, "import_blocks": [[0, 0.2]]}])
