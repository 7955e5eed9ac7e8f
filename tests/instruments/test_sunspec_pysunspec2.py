"""Every emulated SunSpec device as pysunspec2's own client sees it: mandatory points, scale factors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sunspec2 import mdef
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.emulators import EMULATORS, SunSpecDEREmulator, SunSpecMeterEmulator
from flexbench.instruments.emulators.sunspec_device import SunSpecEmulator
from flexbench.instruments.emulators.sunspec_meter import PHASES
from flexbench.instruments.roles import InstrumentError
from flexbench.lab.clock import ScaledClock
from flexbench.lab.virtual.controller_site.config import ControllerPlantParameters, DeviceSpec
from flexbench.lab.virtual.controller_site.devices import SiteInverter


def site_inverter(family: str, kind: str, phases: int) -> SunSpecEmulator:
    """An inverter of the virtual site, with its measurements published once as each plant step does."""
    params = ControllerPlantParameters(phases=phases)
    spec = DeviceSpec(name=kind, kind=kind, family=family, rated_w=5000.0)
    inverter = SiteInverter(spec, params, ScaledClock())
    inverter.publish(params.nominal_voltage_v, params.nominal_frequency_hz)
    return inverter.emulator


DEVICES: dict[str, Callable[[], SunSpecEmulator]] = {
    "der-7xx": SunSpecDEREmulator,
    "der-7xx-volt-var": lambda: SunSpecDEREmulator(models=(1, 701, 702, 704, 705)),
    **{
        f"der-legacy-{inverter}": (lambda inverter=inverter: SunSpecDEREmulator(models=(1, inverter, 120, 121, 123)))
        for inverter in (101, 102, 103)
    },
    **{f"meter-{model}": (lambda model=model: SunSpecMeterEmulator(model)) for model in sorted(PHASES)},
    **{
        f"site-{family}-{kind}-{phases}ph": (lambda f=family, k=kind, n=phases: site_inverter(f, k, n))
        for family in ("sunspec-7xx", "sunspec-legacy")
        for kind in ("pv", "battery")
        for phases in (1, 2, 3)
    },
}


def test_every_sunspec_emulator_in_the_registry_is_scanned():
    sunspec = {cls for cls in EMULATORS.values() if issubclass(cls, SunSpecEmulator)}
    scanned = {type(make()) for make in DEVICES.values()}
    assert sunspec == scanned == {SunSpecDEREmulator, SunSpecMeterEmulator}


def scanned(emulator: SunSpecEmulator) -> SunSpecModbusClientDeviceTCP:
    device = SunSpecModbusClientDeviceTCP(
        slave_id=emulator.unit_id, ipaddr="127.0.0.1", ipport=emulator.port, timeout=2
    )
    device.scan()
    return device


def unimplemented_mandatory(group, prefix: str = "") -> Iterator[str]:
    """Mandatory points of a model or group (and its groups) that read as "not implemented"."""
    for name, point in group.points.items():
        if point.pdef.get(mdef.MANDATORY) == mdef.MANDATORY_TRUE and point.value is None:
            yield prefix + name
    for name, sub in group.groups.items():
        for index, instance in enumerate(sub if isinstance(sub, list) else [sub]):
            yield from unimplemented_mandatory(instance, f"{prefix}{name}[{index}].")


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_pysunspec2_finds_every_mandatory_point_implemented(device):
    with DEVICES[device]() as emulator:
        client = scanned(emulator)
        try:
            found = {model_id: instances for model_id, instances in client.models.items() if isinstance(model_id, int)}
            assert set(found) == set(emulator.models)
            missing = {
                model_id: names
                for model_id, instances in found.items()
                for model in instances
                if (names := list(unimplemented_mandatory(model))) or model.error_info
            }
            assert missing == {}
        finally:
            client.close()


def test_an_unimplemented_scale_factor_reads_and_writes_as_in_pysunspec2():
    with SunSpecDEREmulator() as emulator:
        emulator.set_raw(701, "W", 1234)
        emulator.set_raw(701, "W_SF", None)
        emulator.set_raw(704, "WMaxLimPct", 500)
        emulator.set_raw(704, "WMaxLimPct_SF", None)
        client = scanned(emulator)
        der = SunSpecDER(emulator.address, timeout_s=2.0)
        der.connect()
        try:
            reference = client.models[701][0].W.cvalue, client.models[704][0].WMaxLimPct.cvalue
            assert reference == (1234, 500)  # the raw values
            assert (der.read_point(701, "W"), der.read_point(704, "WMaxLimPct")) == reference
            assert der.measure().power_w == 1234.0
            # Neither writes an engineering value it cannot scale.
            with pytest.raises(Exception, match="WMaxLimPct_SF"):
                client.models[704][0].WMaxLimPct.cvalue = 50
            with pytest.raises(InstrumentError, match="WMaxLimPct_SF is not implemented"):
                der.set_active_power_limit_pct(50.0)
            assert emulator.blocks[704].raw("WMaxLimPct") == 500
        finally:
            der.close()
            client.close()


@pytest.mark.parametrize(
    "device", ["der-7xx-volt-var", "der-legacy-103", "meter-203", "site-sunspec-legacy-battery-3ph"]
)
def test_every_point_decodes_as_pysunspec2_decodes_it(device):
    """flexbench keeps its own decoding (cheaper on the sampling path: benchmarks/sunspec_decode.py); every
    top-level point of every model, scale factor applied, reads as pysunspec2's client reads it."""
    with DEVICES[device]() as emulator:
        client = scanned(emulator)
        der = SunSpecDER(emulator.address, timeout_s=2.0)
        der.connect()
        try:
            compared = 0
            for model_id, instances in client.models.items():
                if not isinstance(model_id, int) or model_id == 1:
                    continue
                ours = der.read_model(model_id)
                for name, point in instances[0].points.items():
                    if name in ("ID", "L") or point.pdef.get(mdef.TYPE) == mdef.TYPE_PAD:
                        continue
                    theirs, mine = point.cvalue, ours.get(name)
                    if isinstance(theirs, float) or isinstance(mine, float):
                        assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-9), (model_id, name)
                    else:
                        assert mine == theirs, (model_id, name)
                    compared += 1
            assert compared > 20
        finally:
            der.close()
            client.close()
