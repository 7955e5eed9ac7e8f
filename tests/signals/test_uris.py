"""One table of URI templates: what the server links is what it serves, and the other way round."""

from __future__ import annotations

import time
from pathlib import Path

from lxml import etree

from flexbench.core import Envelope
from flexbench.signals.csip import ServerThread, uris
from flexbench.signals.pki import TestPKI

from .conftest import http_for

TABLE = [value for value in vars(uris).values() if isinstance(value, uris.Uri)]
# made by a POST, reached from a Response's replyTo, or the operator's
NOT_LINKED = {uris.ADMIN_CALL, uris.SUB, uris.LEL, uris.RSP, uris.MUP, uris.RSPS, uris.RSP_SET}


def test_a_template_fills_and_matches_its_own_hrefs() -> None:
    href = uris.DERC.href(3, 41, 7)
    assert href == "/edev/3/derp/41/derc/7"
    match = uris.DERC.pattern.match(href)
    assert match is not None and match.groups() == ("3", "41", "7")
    assert uris.DERC.route == r"/edev/{edev:\d+}/derp/{derp:\d+}/derc/{derc:\d+}"
    assert uris.DER_DOCUMENT.pattern.match("/edev/3/der/1/ders")
    assert not uris.DER_DOCUMENT.pattern.match("/edev/3/der/1/other")


def test_an_href_given_the_wrong_number_of_values_is_refused() -> None:
    try:
        uris.DERP.href(3)
    except TypeError as exc:
        assert "/edev/{edev}/derp/{derp}" in str(exc)
    else:
        raise AssertionError("DERP.href(3) should name its two placeholders")


def test_no_two_templates_match_one_href() -> None:
    samples = [
        uri.href(*(("ders" if n == "kind" else "setMaxW" if n == "method" else 2) for n in uri.names)) for uri in TABLE
    ]
    for uri, href in zip(TABLE, samples, strict=True):
        assert [u.template for u in TABLE if u.pattern.match(href)] == [uri.template], href


def _hrefs(body: bytes) -> set[str]:
    root = etree.fromstring(body)
    return {e.get(name) for e in root.iter() for name in ("href", "replyTo") if e.get(name)}


def test_every_href_the_server_links_is_served_at_a_template_of_the_table(pki: TestPKI, tmp_path: Path) -> None:
    """Walk a device's whole tree from /dcap: each link matches one template and answers 200 (a DER document
    the device has not reported yet: 404), and the walk reaches every template a client is linked to."""
    lfdi = pki.device_identity("dev-a").lfdi
    with ServerThread(tmp_path / "state.db", pki.directory) as server:
        server.headend.register_device(lfdi)
        now_s = int(time.time())
        server.headend.publish_envelope(lfdi, Envelope.of([(now_s - 10, 600, 5000, 3000)]))
        server.headend.set_default_control(lfdi, 9000, 5000)
        server.headend.publish_prices(
            lfdi, [{"start": now_s - 10, "duration_s": 600, "import_price_per_kwh": 0.1, "import_blocks": [[5, 0.2]]}]
        )
        http = http_for(server.url, pki, pki.device_identity("dev-a"))
        seen: set[str] = set()
        reached: set[str] = set()
        todo = [uris.DCAP.template]
        while todo:
            href = todo.pop()
            if href in seen:
                continue
            seen.add(href)
            matching = [u for u in TABLE if u.pattern.match(href)]
            assert len(matching) == 1, f"{href} matches {[u.template for u in matching]}"
            reached.add(matching[0].template)
            got = http.get(href + ("?l=100" if href.split("/")[-1] in LISTS else ""))
            if matching[0] is uris.DER_DOCUMENT:
                assert got.status == 404, href
                continue
            assert got.status == 200, f"{href}: {got.status} {got.body[:200]!r}"
            todo.extend(_hrefs(got.body) - seen)
    linked = {u.template for u in TABLE if u not in NOT_LINKED}
    assert linked - reached == set()


LISTS = {
    "edev",
    "mup",
    "fsa",
    "derp",
    "derc",
    "actderc",
    "der",
    "sub",
    "lel",
    "tp",
    "rc",
    "tti",
    "acttti",
    "cti",
    "rsp",
}
