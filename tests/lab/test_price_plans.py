"""Price plans on the virtual PCS site over real mutual-TLS 2030.5: the healthy site passes both; a site that
follows price over its envelope fails the envelope requirement and only that."""

from __future__ import annotations

import json

BENCH = "lab/benches/virtual-pcs.toml"
ALL = {"PRICE-ENV", "PRICE-FOLLOW"}


def test_healthy_site_passes_and_the_prices_went_over_2030_5(tmp_path, plans):
    run_dir = tmp_path / "healthy"
    proc, results = plans.run("testplans/prices", BENCH, 20, run_dir)
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [len(e["intervals"]) for e in events if e["kind"] == "csip_prices"] == [1, 2]
    requests = (run_dir / "csip_requests.jsonl").read_text()
    assert "/tti" in requests and "/cti" in requests  # the DUT read the tariff tree itself


def test_a_site_that_follows_price_over_its_envelope_fails_the_envelope_requirement(tmp_path, plans):
    run_dir = tmp_path / "price-over-envelope"
    proc, results = plans.run("testplans/prices", BENCH, 20, run_dir, "--dut-profile", "price-over-envelope")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == {"PRICE-ENV"}, plans.why(results)
