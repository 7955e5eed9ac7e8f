"""The PHIL loop across machines: twin and lab as two HELICS value federates.

The lab federate publishes the device's per-phase P and Q (`<lab_name>/pq`:
[p1..pn, q1..qn], W and var, import positive); the twin federate publishes
the bus voltages (`<twin_name>/bus`: `BusVoltages.to_vector()`). HELICS time
counts loop steps: step k is exchanged at time k (the lab publishes, the twin
is granted k, solves and publishes) and the lab reads the answer at k + 0.5.
The lab paces the loop in bench time exactly as in one process; the twin
federate only follows, so the same `PhilLoop` runs with `HelicsTwinLink` in
place of a `PhilBus` and sends the grid simulator the same setpoints.

Addresses come from settings ([cosim.helics] or flags): broker host:port,
core type, federate names. Either command may start the broker
(`start_broker`), which then waits for the two federates; port 0 lets it take
a free port and say which. A zmq broker also listens on the next port, and its
federates on ports the broker hands out just above its own, so federations
sharing a host (tests, benchmarks) use zmq_ss: one port each, the broker's.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from flexbench.lab.cosim.config import CosimError, CosimSettings, HelicsSettings, broker_host_port
from flexbench.twin.phil import BusVoltages

PQ_KEY = "pq"
BUS_KEY = "bus"
DEFAULT_PORT = 23404  # HELICS's own default broker port
FREE_PORT_ATTEMPTS = 5
# HELICS grants this (or later) once every other federate has left
END_OF_TIME_S = 1.0e9


def _helics() -> Any:
    try:
        import helics
    except ImportError as exc:  # declared in pyproject.toml; a broken install says so plainly
        raise CosimError(f"HELICS is not installed ({exc}); pip install helics") from None
    return helics


def _address(settings: HelicsSettings) -> tuple[str, int]:
    host, port = broker_host_port(settings.broker)
    return host, DEFAULT_PORT if port is None else port


def start_broker(settings: HelicsSettings, federates: int = 2) -> tuple[Any, HelicsSettings]:
    """Start a HELICS broker in this process at settings.broker, for `federates` federates.

    Returns the broker and the settings with its address: at port 0, a port the
    system had free (another, should it be taken before the broker binds it).
    """
    h = _helics()
    host, port = _address(settings)
    for _ in range(FREE_PORT_ATTEMPTS if port == 0 else 1):
        at = port or _free_port(host)
        args = f"--federates={federates} --port={at} --local_interface={host} --loglevel=error"
        try:
            broker = h.helicsCreateBroker(settings.core, "", args)
        except h.HelicsException as exc:
            raise CosimError(f"cannot start a HELICS {settings.core} broker at {host}:{at}: {exc}") from None
        if h.helicsBrokerIsConnected(broker):
            return broker, replace(settings, broker=f"{host}:{at}")
        h.helicsBrokerFree(broker)
    raise CosimError(f"the HELICS broker at {host}:{at} did not start")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stop_broker(broker: Any, timeout_s: float = 10.0) -> None:
    """Wait for the federates to leave, then free the broker."""
    h = _helics()
    try:
        if not h.helicsBrokerWaitForDisconnect(broker, int(timeout_s * 1000)):
            h.helicsBrokerDisconnect(broker)
    finally:
        h.helicsBrokerFree(broker)


def _federate(settings: HelicsSettings, name: str, *, wait_for_current_time: bool) -> Any:
    h = _helics()
    host, port = _address(settings)
    if port == 0:
        raise CosimError(f"broker {settings.broker}: port 0 is for the command that starts the broker (--start-broker)")
    fi = h.helicsCreateFederateInfo()
    h.helicsFederateInfoSetCoreTypeFromString(fi, settings.core)
    init = f"--federates=1 --broker_address={host}:{port} --timeout={int(settings.timeout_s * 1000)}ms"
    if settings.interface:
        init += f" --local_interface={settings.interface}"
    h.helicsFederateInfoSetCoreInitString(fi, init)
    h.helicsFederateInfoSetTimeProperty(fi, h.helics_property_time_delta, 0.5)
    h.helicsFederateInfoSetIntegerProperty(fi, h.helics_property_int_log_level, h.helics_log_level_error)
    # a federate granted time k must see what the other published at k (the step's power)
    h.helicsFederateInfoSetFlagOption(fi, h.helics_flag_wait_for_current_time_update, wait_for_current_time)
    h.helicsFederateInfoSetFlagOption(fi, h.helics_flag_uninterruptible, True)
    try:
        fed = h.helicsCreateValueFederate(name, fi)
    except h.HelicsException as exc:
        raise CosimError(
            f"federate {name!r} cannot join the HELICS broker at {host}:{port} ({settings.core}): {exc}"
        ) from None
    finally:
        h.helicsFederateInfoFree(fi)
    return fed


def _enter(fed: Any, name: str, settings: HelicsSettings) -> None:
    h = _helics()
    try:
        h.helicsFederateEnterExecutingMode(fed)
    except h.HelicsException as exc:
        _free(fed)
        raise CosimError(
            f"federate {name!r}: the federation did not start within {settings.timeout_s:g} s "
            f"(is the other federate running against {settings.broker}?): {exc}"
        ) from None


def _free(fed: Any) -> None:
    h = _helics()
    try:
        h.helicsFederateDisconnect(fed)
    except h.HelicsException:
        pass
    h.helicsFederateFree(fed)


class HelicsTwinLink:
    """The lab's side: a TwinLink whose exchange goes through the twin federate."""

    def __init__(self, settings: CosimSettings) -> None:
        h = _helics()
        hs = settings.helics
        self.settings = hs
        self._fed = _federate(hs, hs.lab_name, wait_for_current_time=False)
        self._pub = h.helicsFederateRegisterGlobalPublication(
            self._fed, f"{hs.lab_name}/{PQ_KEY}", h.helics_data_type_vector, ""
        )
        self._sub = h.helicsFederateRegisterSubscription(self._fed, f"{hs.twin_name}/{BUS_KEY}", "")
        _enter(self._fed, hs.lab_name, hs)
        self._k = 0
        self._closed = False

    def exchange(self, p_w: Sequence[float], q_var: Sequence[float]) -> BusVoltages:
        h = _helics()
        self._k += 1
        try:
            h.helicsFederateRequestTime(self._fed, float(self._k))
            h.helicsPublicationPublishVector(self._pub, [float(v) for v in list(p_w) + list(q_var)])
            granted = h.helicsFederateRequestTime(self._fed, self._k + 0.5)
            if granted >= END_OF_TIME_S:
                raise CosimError("the twin federate left the federation")
            if not h.helicsInputIsUpdated(self._sub):
                raise CosimError(f"no bus voltages from the twin federate at step {self._k}")
            return BusVoltages.from_vector(h.helicsInputGetVector(self._sub))
        except h.HelicsException as exc:
            raise CosimError(f"HELICS exchange failed at step {self._k}: {exc}") from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _free(self._fed)


def run_twin_federate(
    settings: CosimSettings,
    *,
    start_own_broker: bool = False,
    make_bus: Callable[[], Any] | None = None,
    on_ready: Callable[[], None] | None = None,
    on_broker: Callable[[str], None] | None = None,
) -> int:
    """The twin's side: answer every step of the lab federate until it leaves; returns the steps served.

    The PhilBus is made here, on this thread (OpenDSS is used on the thread that
    created it). `start_own_broker` starts the broker in this process first and
    tells `on_broker` its address.
    """
    h = _helics()
    if make_bus is None:
        from flexbench.twin import Twin, TwinError
        from flexbench.twin.phil import PhilBus

        def make_bus() -> Any:
            try:
                return PhilBus(Twin.load(settings.feeder), settings.bus, controls=settings.controls)
            except TwinError as exc:
                key = "bus" if "bus" in str(exc) else "feeder"
                raise settings.located(key, str(exc)) from None

    bus = make_bus()
    hs = settings.helics
    broker = None
    if start_own_broker:
        broker, hs = start_broker(hs)
        if on_broker is not None:
            on_broker(hs.broker)
    steps = 0
    try:
        fed = _federate(hs, hs.twin_name, wait_for_current_time=True)
        pub = h.helicsFederateRegisterGlobalPublication(fed, f"{hs.twin_name}/{BUS_KEY}", h.helics_data_type_vector, "")
        sub = h.helicsFederateRegisterSubscription(fed, f"{hs.lab_name}/{PQ_KEY}", "")
        if on_ready is not None:
            on_ready()
        _enter(fed, hs.twin_name, hs)
        try:
            k = 1
            while True:
                granted = h.helicsFederateRequestTime(fed, float(k))
                if granted >= END_OF_TIME_S:
                    break
                if not h.helicsInputIsUpdated(sub):
                    break  # the lab publishes every step: a step without its power means it has left
                values = h.helicsInputGetVector(sub)
                n = len(values) // 2
                state = bus.exchange(values[:n], values[n:])
                h.helicsPublicationPublishVector(pub, state.to_vector())
                steps += 1
                k = int(round(granted)) + 1
        except h.HelicsException as exc:
            raise CosimError(f"twin federate: HELICS failed after {steps} steps: {exc}") from None
        finally:
            _free(fed)
    finally:
        if broker is not None:
            stop_broker(broker, hs.timeout_s)
    return steps
