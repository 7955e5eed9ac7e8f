"""The bench's side of controller mode: identity on the 2030.5 server, site file, the component.

`csip_config_for` is used before the 2030.5 server starts (a real
controller's certificate LFDI replaces its device's); `components` makes
the controller's component (lab.station) once the virtual site serves its
devices and before the bench's instruments connect (the `pcs` instrument at
address "controller" is the controller's local API).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flexbench.lab.bench_config import BenchConfig, BenchError
from flexbench.lab.controller.config import CONTROLLER_ADDRESS
from flexbench.lab.controller.supervisor import ControllerSupervisor

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench


def csip_config_for(config: BenchConfig) -> Any:
    """[signals.csip] with the controller's device carrying its real LFDI, when [controller] gives one."""
    csip, ctl = config.csip, config.controller
    if csip is None or ctl is None or ctl.lfdi is None or ctl.csip_device is None:
        return csip
    devices = dict(csip.devices)
    devices[ctl.csip_device] = dataclasses.replace(devices[ctl.csip_device], lfdi=ctl.lfdi)
    return dataclasses.replace(csip, devices=devices)


def _utility(bench: Any) -> dict[str, Any] | None:
    ctl = bench.config.controller
    if bench.csip is None or ctl.csip_device is None:
        return None
    utility: dict[str, Any] = {
        "url": bench.csip.url,
        "ca": str(bench.csip.pki.ca_cert_path),
        "ciphers": ctl.ciphers,
        "lfdi": bench.csip.lfdis[ctl.csip_device],
    }
    try:
        ident = bench.csip.identity(ctl.csip_device)
        utility.update(cert=str(ident.cert_path), key=str(ident.key_path))
    except FileNotFoundError:
        pass  # a real controller: it holds its own certificate and key
    return utility


def _traffic(bench: Any, site: Any) -> Callable[[], int]:
    """How many requests the controller has made so far: Modbus to the site's devices (a virtual site's wire
    log), 2030.5 from its certificate (the bench's server)."""
    ctl = bench.config.controller
    records = getattr(getattr(site, "wire_log", None), "records", None)
    lfdi = bench.csip.lfdis.get(ctl.csip_device) if bench.csip is not None and ctl.csip_device else None
    if ctl.lfdi is not None:
        lfdi = ctl.lfdi

    def count() -> int:
        n = len(records) if records is not None else 0
        return n + (len(bench.csip.requests(lfdi)) if lfdi is not None else 0)

    return count


def reset_for_test(bench: Any, nodeid: str) -> None:
    """Before a test of a per-test session: the controller's settings back to none, its 2030.5 state on the
    server cleared, and the controller restarted (or its reset command run)."""
    from flexbench.lab.controller.configured_pcs import ConfiguredPCS

    ctl = bench.controller
    for driver in bench.instruments.values():
        if isinstance(driver, ConfiguredPCS):
            driver.unset()
    cleared: dict[str, int] = {}
    if bench.csip is not None and ctl.config.csip_device is not None:
        lfdi = ctl.config.lfdi or bench.csip.lfdis[ctl.config.csip_device]
        cleared = bench.csip.headend.reset_device(lfdi)
    ctl.reset()
    bench.on_event("controller_reset", {"before": nodeid, "server_cleared": cleared})


def components(bench: Bench) -> list[ControllerSupervisor]:
    """The controller under test when the bench file has [controller]: its site file written, ready to start.

    It starts after the virtual site serves its devices and before the bench's
    instruments connect (an instrument at address "controller" is its local API).
    """
    config: BenchConfig = bench.config
    if config.controller is None:
        return []
    if bench.work_dir is None:
        raise BenchError(f"{config.path}: [controller] needs a run folder for its site file and log")
    if (why := config.controller.refuses_time_scale(bench.clock.time_scale)) is not None:
        raise BenchError(f"{config.path}: {why}")
    site = getattr(bench.virtual_lab, "site", None)
    site_map = site.site_map() if site is not None and hasattr(site, "site_map") else {"meter": None, "inverters": []}
    supervisor = ControllerSupervisor(
        config.controller,
        bench.work_dir,
        bench.clock,
        bench.dut_profile,
        bench.on_event,
        config.path,
        served=[name for name, inst in config.instruments.items() if inst.address == CONTROLLER_ADDRESS],
        truth=site if hasattr(site, "truth") else None,
        sample_period_s=config.sample_period_s,
        traffic=_traffic(bench, site),
    )
    supervisor.write_site_file(site_map, _utility(bench))
    return [supervisor]
