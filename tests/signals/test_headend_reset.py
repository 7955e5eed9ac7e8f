"""Clearing what a device's last test left on the server, before the next test of a per-test session."""

from __future__ import annotations

from types import SimpleNamespace

from flexbench.signals.csip.headend import HeadEnd

LFDI = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
OTHER = "0123456789ABCDEF0123456789ABCDEF01234567"
NOW_S = 1_800_000_000.0


def test_reset_clears_listed_controls_defaults_and_subscriptions_and_keeps_the_record(tmp_path):
    headend = HeadEnd(tmp_path / "state.sqlite", clock=lambda: NOW_S)
    for lfdi in (LFDI, OTHER):
        headend.register_device(lfdi, limit_mode="site", rated_w=5000.0)
    ended = headend.publish_control(LFDI, NOW_S - 600, 300, {"export_limit_w": 1000.0})  # over: history
    active = headend.publish_control(LFDI, NOW_S - 10, 600, {"export_limit_w": 2000.0})
    headend.publish_control(LFDI, NOW_S + 60, 600, {"import_limit_w": 3000.0}, program="abnormal")
    kept = headend.publish_control(OTHER, NOW_S - 10, 600, {"export_limit_w": 4000.0})
    headend.set_default_control(LFDI, export_limit_w=1500.0)
    headend.publish_prices(LFDI, [{"start": NOW_S, "duration_s": 600, "import_price_per_kwh": 0.1}])
    headend.publish_prices(OTHER, [{"start": NOW_S, "duration_s": 600, "import_price_per_kwh": 0.2}])
    device = headend.device(LFDI)
    subscription = SimpleNamespace(subscribedResource="/edev/1/derp", notificationURI="https://x/n", limit=1, level="")
    headend.records.add_subscription(device.id, subscription, int(NOW_S))
    before = headend.generation.get(device.id, 0)

    cleared = headend.reset_device(LFDI)

    assert cleared == {"controls": 2, "default_controls": 1, "price_intervals": 1, "subscriptions": 1}
    assert headend.prices(LFDI) == [] and len(headend.prices(OTHER)) == 1
    assert [c["mrid"] for c in headend.controls(LFDI)] == [ended["mrid"]]  # the ended one stays as history
    assert headend.controls(LFDI, listed_only=True) == []
    assert headend.default_control(LFDI) is None and headend.records.subscriptions(device.id) == []
    assert headend.generation[device.id] > before  # cached renderings of its lists dropped
    assert [c["mrid"] for c in headend.controls(OTHER)] == [kept["mrid"]]  # another device is untouched
    assert active["mrid"] not in {c["mrid"] for c in headend.controls(LFDI)}
