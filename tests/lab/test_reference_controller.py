"""The reference controller as its own process against SunSpec emulators on loopback.

A small plant in the test closes the loop: each PV inverter produces what is
available up to the cap the controller wrote (704 or legacy 123), the battery
follows 704 WSet, and the meter reports load minus generation. The controller
is judged by the meter, as the bench judges it by the PCC.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flexbench.instruments.drivers.modbus_pcs import ModbusPCS
from flexbench.instruments.emulators.sunspec_der import SunSpecDEREmulator
from flexbench.instruments.emulators.sunspec_meter import SunSpecMeterEmulator
from flexbench.instruments.roles import MeterReading
from flexbench.lab.controller.site_file import write_site_file
from flexbench.lab.virtual.reference_controller.control import DeviceView, dispatch

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 10.0
RATED_W = 5000.0


class MiniSite:
    """Two PV inverters (7xx and legacy), a 7xx battery, a meter; instant physics."""

    def __init__(self) -> None:
        plate = {"WMaxRtg": RATED_W, "VAMaxRtg": RATED_W, "WMax": RATED_W}
        self.pv7 = SunSpecDEREmulator(models=(1, 701, 702, 704), nameplate=plate)
        self.pvl = SunSpecDEREmulator(models=(1, 103, 120, 121, 123), nameplate=plate)
        self.bat = SunSpecDEREmulator(models=(1, 701, 702, 704), nameplate=plate)
        self.meter = SunSpecMeterEmulator(model=203)
        self.available_w = {"pv7": RATED_W, "pvl": RATED_W}
        self.load_w = 500.0
        self.pcc_w = 0.0
        self._stop = threading.Event()
        self.meter.measurement_source = lambda: MeterReading(
            phases=(),
            power_w=self.pcc_w,
            reactive_power_var=0.0,
            voltage_v=240.0,
            current_a=0.0,
            frequency_hz=60.0,
            energy_import_wh=1.0,
            energy_export_wh=1.0,
        )

    def devices(self):
        return (self.pv7, self.pvl, self.bat, self.meter)

    def start(self) -> None:
        for d in self.devices():
            d.start()
        threading.Thread(target=self._run, daemon=True).start()

    def _cap(self, emu, model: int, ena: str) -> float:
        return (emu.get(model, "WMaxLimPct") or 0.0) / 100.0 if emu.get(model, ena) == 1 else 1.0

    def step(self) -> None:
        pv7 = min(self.available_w["pv7"], self._cap(self.pv7, 704, "WMaxLimPctEna") * RATED_W)
        pvl = min(self.available_w["pvl"], self._cap(self.pvl, 123, "WMaxLim_Ena") * RATED_W)
        bat = float(self.bat.get(704, "WSet") or 0.0) if self.bat.get(704, "WSetEna") == 1 else 0.0
        self.pv7.set(701, "W", round(pv7))
        self.pvl.set(103, "W", round(pvl))
        self.bat.set(701, "W", round(bat))
        self.pcc_w = self.load_w - pv7 - pvl - bat

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        for d in self.devices():
            d.stop()

    def site_map(self) -> dict:
        def entry(emu, name, kind):
            return {
                "name": name,
                "address": f"127.0.0.1:{emu.port}",
                "unit_id": 1,
                "kind": kind,
                "family": "sunspec-7xx",
                "rated_w": RATED_W,
            }

        return {
            "meter": {"address": f"127.0.0.1:{self.meter.port}", "unit_id": 1, "family": "sunspec"},
            "inverters": [
                entry(self.pv7, "pv7", "pv"),
                entry(self.pvl, "pvl", "pv"),
                entry(self.bat, "battery", "battery"),
            ],
        }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def running(tmp_path, request):
    """The mini site and the controller (fault from the test's parameter, default healthy)."""
    fault = getattr(request, "param", "healthy")
    site = MiniSite()
    site.start()
    port = _free_port()
    now = time.time()
    path = write_site_file(
        tmp_path / "controller-site.toml",
        clock={"time_scale": TIME_SCALE, "bench_s": now, "wall_s": now},
        site_map=site.site_map(),
        utility=None,
        firm={},
        local_api=f"127.0.0.1:{port}",
    )
    log = open(tmp_path / "controller.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flexbench.lab.virtual.reference_controller", str(path), "--fault", fault],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = ModbusPCS(f"modbus+tcp://127.0.0.1:{port}/1", timeout_s=2.0)
    deadline = time.monotonic() + 20
    while True:
        try:
            api.connect()
            api.status()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError((tmp_path / "controller.log").read_text()) from None
            time.sleep(0.1)
    try:
        yield site, api, proc
    finally:
        api.close()
        proc.terminate()
        try:
            proc.wait(10)
        finally:
            log.close()
            site.stop()


def _settle(site: MiniSite, wall_s: float = 2.0) -> float:
    time.sleep(wall_s)
    return site.pcc_w


def test_export_limit_from_the_local_api_is_held_by_both_families(running):
    site, api, _ = running
    api.set_export_limit_w(2000.0)
    pcc_w = _settle(site)
    assert -2000.0 - 1.0 <= pcc_w <= -1500.0, pcc_w
    assert site.pv7.get(704, "WMaxLimPctEna") == 1 and site.pvl.get(123, "WMaxLim_Ena") == 1
    assert 0 < site.pv7.get(704, "WMaxLimPctRvrtTms") and site.pv7.get(704, "WMaxLimPctRvrt") == 0.0
    # the legacy cap goes as field controllers send it: model 123 whole, from its header (ignored by the device)
    assert any(f.count == 26 and "header" in f.why for f in site.pvl.write_findings)
    api.set_export_limit_w(None)
    assert _settle(site) < -8000.0  # released: both inverters at what is available


def test_import_limit_discharges_the_battery(running):
    site, api, _ = running
    site.available_w.update(pv7=500.0, pvl=500.0)
    site.load_w = 6000.0
    api.set_import_limit_w(2000.0)
    pcc_w = _settle(site)
    assert 1500.0 <= pcc_w <= 2000.0, pcc_w
    assert site.bat.get(704, "WSetEna") == 1 and site.bat.get(704, "WSet") > 2000.0


def test_meter_silent_goes_fail_safe(running):
    site, api, _ = running
    _settle(site, 1.0)
    site.meter.responding = False
    time.sleep(3.0)
    site.step()
    assert site.pv7.get(704, "WMaxLimPct") == 0.0 and site.pvl.get(123, "WMaxLimPct") == 0.0
    assert api.status().fail_safe


@pytest.mark.parametrize("running", ["no-failsafe"], indirect=True)
def test_no_failsafe_variant_keeps_exporting(running):
    site, api, _ = running
    _settle(site, 1.0)
    site.meter.responding = False
    time.sleep(3.0)
    assert site.pcc_w < -8000.0


def test_an_inverter_that_ignores_its_cap_is_made_up_for_by_the_others():
    """The law alone: a disobeying inverter counts as uncontrolled, the battery absorbs the rest."""
    views = [
        DeviceView("a", "pv", 5000.0, 5000.0, obeys=False),
        DeviceView("b", "pv", 5000.0, 1250.0),
        DeviceView("bat", "battery", 5000.0, 0.0),
    ]
    c = dispatch(500.0 - 6250.0, views, export_limit_w=2000.0, import_limit_w=None, margin_w=100.0)
    assert c.pv_cap_pct == 0.0 and c.battery_max_w["bat"] == pytest.approx(-2600.0)  # made to charge
    trusting = [DeviceView(v.name, v.kind, v.rated_w, v.output_w) for v in views]
    c = dispatch(500.0 - 6250.0, trusting, export_limit_w=2000.0, import_limit_w=None, margin_w=100.0)
    assert c.pv_cap_pct > 0.0


def test_a_battery_with_a_request_of_its_own_is_capped_after_pv_on_export_and_charging_first_on_import():
    """The law alone: windows [min_w, max_w] for a battery that follows its own dispatch."""
    # export overrun: PV at 5 kW and the battery discharging 5 kW into a 500 W load, export limit 3 kW
    views = [DeviceView("pv", "pv", 5000.0, 5000.0), DeviceView("bat", "battery", 5000.0, 5000.0)]
    c = dispatch(500.0 - 10000.0, views, export_limit_w=3000.0, import_limit_w=None, margin_w=100.0)
    assert c.pv_cap_pct == 0.0 and c.battery_max_w["bat"] == pytest.approx(3400.0)  # PV first, then the battery
    assert c.battery_min_w["bat"] == -5000.0  # charging untouched
    small = [DeviceView("pv", "pv", 5000.0, 5000.0), DeviceView("bat", "battery", 5000.0, 1000.0)]
    c = dispatch(500.0 - 6000.0, small, export_limit_w=3000.0, import_limit_w=None, margin_w=100.0)
    assert c.pv_cap_pct == pytest.approx(100.0 * 2400.0 / 5000.0) and c.battery_max_w["bat"] == 3400.0
    # import overrun: a 4 kW load, PV 1 kW, the battery charging 5 kW, import limit 3 kW
    views = [DeviceView("pv", "pv", 5000.0, 1000.0), DeviceView("bat", "battery", 5000.0, -5000.0)]
    c = dispatch(4000.0 - 1000.0 + 5000.0, views, export_limit_w=None, import_limit_w=3000.0, margin_w=100.0)
    assert c.battery_min_w["bat"] == pytest.approx(100.0) and c.battery_max_w["bat"] == 5000.0  # made to discharge
    c = dispatch(3000.0 - 1000.0 + 5000.0, views, export_limit_w=None, import_limit_w=3000.0, margin_w=100.0)
    assert c.battery_min_w["bat"] == pytest.approx(-900.0)  # its charging capped, no more
    c = dispatch(
        3000.0 - 1000.0 + 5000.0, views, export_limit_w=None, import_limit_w=None, margin_w=100.0, grid_charging=False
    )  # export-only: charge from the PV surplus alone (none here)
    assert c.battery_min_w["bat"] == 0.0
