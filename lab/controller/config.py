"""The bench file's [controller] table, validated with file, line and key in every error.

    [controller]
    command = ["{python}", "-m", "flexbench.lab.virtual.reference_controller", "{site_file}", "--fault", "{dut_profile}"]
    env = { LOG_LEVEL = "info" }      # added to the bench's environment
    cwd = "{run_dir}"                 # relative paths: from the bench file's folder
    ciphers = "strict"                # 2030.5 server's TLS ciphers for this controller: strict | interop | an OpenSSL list
    csip_device = "controller"        # its [signals.csip.devices.NAME]; its identity: made by the bench's test PKI
    lfdi = "..."  or  cert = "controller.pem"   # a real controller's certificate (LFDI or the PEM itself)
    local_api = "127.0.0.1:0"         # where it serves the PCS settings registers (0: a port chosen at run time)
    firm_export_limit_w = 5000.0      # limits it applies before any DefaultDERControl is known
    firm_import_limit_w = 15000.0
    telemetry_tolerance_w = 250.0     # its mirrored PCC power vs the plant's (CTL-TELEM)
    start_timeout_s = 30.0            # wall seconds for its local API to answer
    declaration = "reference-controller"  # its device declaration: a name in the plans' declarations folder
                                      # (testplans/declarations/NAME.toml) or a .toml file from the bench
                                      # file's folder; the UL 3141 plans' default when --declaration is not given
    clock = "own"                     # own: the controller keeps its own wall clock, so the bench runs at
                                      # --time-scale 1 only; bench: it takes bench time and scale from the site
                                      # file ([clock]) or the server's 2030.5 Time, so any time scale is meaningful
    configure = ["./set-limits.sh", "{settings_file}"]  # how plans change its site settings, through its own
                                      # configuration (instead of a local API): the bench writes the settings as
                                      # JSON to {settings_file} and runs this; the pcs instrument at address
                                      # "controller" then takes its settings through it
    configure_restarts = false        # whether the controller must be restarted to take new settings
    settings = ["export_limit_w", "import_limit_w"]  # what its configuration can set (also "mode",
                                      # "current_limit_a", "schedule_file": the path of a schedule file,
                                      # core.schedule_files); a plan needing another setting is not applicable
    session = "per-test"              # per-test: before each test the controller is restarted (or its reset
                                      # command run) and its 2030.5 state on the server cleared; shared: one
                                      # session for the whole run (faster; a test may inherit the last one's state)
    reset = ["./reset.sh"]            # per-test: run this instead of a restart

Placeholders in command, env, cwd, configure and reset: {site_file} {run_dir} {dut_profile} {python}
(and {settings_file} in configure).

The bench knows the controller is up when its local API answers (a pcs instrument served by it) or,
without one, by its traffic: a Modbus request to a site device or a 2030.5 request from its certificate.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDERS = ("site_file", "run_dir", "dut_profile", "python")
CONFIGURE_PLACEHOLDERS = (*PLACEHOLDERS, "settings_file")
SETTINGS = ("mode", "export_limit_w", "import_limit_w", "current_limit_a", "schedule_file")
SESSIONS = ("per-test", "shared")
CONTROLLER_ADDRESS = "controller"  # an instrument at the controller's local API
REFERENCE_COMMAND = (
    "{python}",
    "-m",
    "flexbench.lab.virtual.reference_controller",
    "{site_file}",
    "--fault",
    "{dut_profile}",
)
_KEYS = {
    "command": list,
    "env": dict,
    "cwd": str,
    "ciphers": str,
    "csip_device": str,
    "lfdi": str,
    "cert": str,
    "local_api": str,
    "firm_export_limit_w": (int, float),
    "firm_import_limit_w": (int, float),
    "telemetry_tolerance_w": (int, float),
    "start_timeout_s": (int, float),
    "declaration": str,
    "clock": str,
    "configure": list,
    "configure_restarts": bool,
    "settings": list,
    "session": str,
    "reset": list,
}
CLOCKS = ("own", "bench")


@dataclass(frozen=True)
class ControllerConfig:
    command: tuple[str, ...] | None  # None: the controller runs on its own (a box); nothing is started
    env: dict[str, str]
    cwd: str | None
    ciphers: str  # the OpenSSL cipher list the 2030.5 server offers this controller
    csip_device: str | None
    lfdi: str | None
    cert: Path | None
    local_api: tuple[str, int]
    firm_export_limit_w: float | None
    firm_import_limit_w: float | None
    telemetry_tolerance_w: float
    start_timeout_s: float
    base_dir: Path = field(default=Path("."))
    declaration: str | Path | None = None  # the controller's device declaration: a name, or a file
    clock: str = "own"  # "own": its own wall clock (time scale 1 only); "bench": it follows the bench's time
    configure: tuple[str, ...] | None = None  # its own configuration command, for the plans' site settings
    configure_restarts: bool = False
    settings: tuple[str, ...] = ("export_limit_w", "import_limit_w")  # what `configure` can set
    session: str = "per-test"  # per-test | shared
    reset: tuple[str, ...] | None = None  # per-test: run this instead of restarting the controller

    def refuses_time_scale(self, time_scale: float) -> str | None:
        """Why a run at this time scale would judge the controller on the wrong clock (None: it would not)."""
        if self.clock == "bench" or time_scale == 1.0:
            return None
        return (
            f'the controller keeps its own clock ([controller] clock = "own"): at --time-scale {time_scale:g} '
            "the bench's time and the 2030.5 event times run ahead of it and its verdicts mean nothing; run at "
            '--time-scale 1, or set clock = "bench" if it takes its time from the site file or the 2030.5 Time'
        )


def resolve_ciphers(choice: str) -> str:
    from flexbench.signals.csip.tls import CSIP_CIPHERS, INTEROP_CIPHERS

    return {"strict": CSIP_CIPHERS, "interop": INTEROP_CIPHERS}.get(choice, choice)


def _placeholders_ok(text: str, known: tuple[str, ...] = PLACEHOLDERS) -> str | None:
    """The first unknown placeholder in `text`, or None."""
    for name in re.findall(r"\{([^{}]*)\}", text):
        if name not in known:
            return name
    return None


def _argv(reader: Any, table: dict[str, Any], key: str, known: tuple[str, ...] = PLACEHOLDERS) -> list[str] | None:
    """A command line of [controller]: a non-empty list of strings with known placeholders, or None."""
    argv = table.get(key)
    if argv is None:
        return None
    if not argv or not all(isinstance(a, str) for a in argv):
        raise reader.error("controller", key, "expected a non-empty list of strings")
    for arg in argv:
        if (bad := _placeholders_ok(arg, known)) is not None:
            raise reader.error(
                "controller", key, f"unknown placeholder {{{bad}}} (known: {', '.join('{' + p + '}' for p in known)})"
            )
    return list(argv)


def parse_controller(reader: Any, table: Any, csip: Any, is_virtual: bool) -> ControllerConfig:
    """Validate [controller]; `reader` is bench_config's _Reader (errors with file and line)."""
    if not isinstance(table, dict):
        raise reader.error("controller", None, "must be a table")
    reader.check_keys("controller", table, _KEYS)
    command = _argv(reader, table, "command")
    if command is None and is_virtual:
        command = list(REFERENCE_COMMAND)
    configure = _argv(reader, table, "configure", CONFIGURE_PLACEHOLDERS)
    reset = _argv(reader, table, "reset")
    settings = table.get("settings", ["export_limit_w", "import_limit_w"])
    for setting in settings:
        if setting not in SETTINGS:
            raise reader.error(
                "controller", "settings", f"unknown setting {setting!r} (settings: {', '.join(SETTINGS)})"
            )
    if "settings" in table and configure is None:
        raise reader.error("controller", "settings", "settings are taken through a configure command: add configure")
    session = table.get("session", "per-test")
    if session not in SESSIONS:
        raise reader.error("controller", "session", f"expected one of {', '.join(SESSIONS)}, got {session!r}")
    if reset is not None and session == "shared":
        raise reader.error("controller", "reset", 'a reset command runs before each test: session = "per-test"')
    env = table.get("env", {})
    for key, value in env.items():
        if not isinstance(value, str):
            raise reader.error("controller", "env", f"{key}: expected a string, got {value!r}")
        if (bad := _placeholders_ok(value)) is not None:
            raise reader.error("controller", "env", f"{key}: unknown placeholder {{{bad}}}")
    cwd = table.get("cwd")
    if cwd is not None and (bad := _placeholders_ok(cwd)) is not None:
        raise reader.error("controller", "cwd", f"unknown placeholder {{{bad}}}")
    ciphers = resolve_ciphers(table.get("ciphers", "strict"))
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
    except ssl.SSLError:
        raise reader.error(
            "controller",
            "ciphers",
            f"no usable cipher suite in {ciphers!r} (use strict, interop or an OpenSSL cipher list)",
        ) from None
    devices = list(csip.devices) if csip is not None else []
    csip_device = table.get("csip_device")
    if csip_device is None and len(devices) == 1:
        csip_device = devices[0]
    if csip_device is not None and csip_device not in devices:
        raise reader.error(
            "controller",
            "csip_device",
            f"names no [signals.csip.devices.{csip_device}] (devices: {', '.join(devices) or 'none'})",
        )
    if csip is not None and csip_device is None:
        raise reader.error("controller", None, "several [signals.csip.devices]: set csip_device to the controller's")
    lfdi = table.get("lfdi")
    if lfdi is not None and not re.fullmatch(r"[0-9A-Fa-f]{40}", lfdi):
        raise reader.error("controller", "lfdi", "must be 40 hexadecimal digits")
    cert = None
    if "cert" in table:
        cert = reader.path.parent / table["cert"]
        if not cert.is_file():
            raise reader.error("controller", "cert", f"no certificate file at {cert}")
        lfdi = _lfdi_of(reader, cert)
    local_api = table.get("local_api", "127.0.0.1:0")
    match = re.fullmatch(r"([^:\s]+):(\d{1,5})", local_api)
    if match is None or int(match.group(2)) > 65535:
        raise reader.error("controller", "local_api", f'expected "host:port", got {local_api!r}')
    if not is_virtual and command is None and int(match.group(2)) == 0:
        raise reader.error("controller", "local_api", "a controller the bench does not start needs its real port")
    numbers = {}
    for key in ("firm_export_limit_w", "firm_import_limit_w"):
        if key in table and table[key] < 0:
            raise reader.error("controller", key, "must be zero or positive")
        numbers[key] = float(table[key]) if key in table else None
    tolerance = float(table.get("telemetry_tolerance_w", 250.0))
    start_timeout = float(table.get("start_timeout_s", 30.0))
    for key, value in (("telemetry_tolerance_w", tolerance), ("start_timeout_s", start_timeout)):
        if value <= 0:
            raise reader.error("controller", key, "must be positive")
    name: str | None = table.get("declaration")  # a string: the bench file's types are checked first
    declaration: str | Path | None = name
    if name is not None and (name.endswith(".toml") or "/" in name):
        path: Path = (reader.path.parent / name).resolve()
        if not path.is_file():
            raise reader.error("controller", "declaration", f"no declaration file at {path}")
        declaration = path
    elif name is not None and not re.fullmatch(r"[\w.-]+", name):
        raise reader.error("controller", "declaration", "expected a declaration name or a .toml file")
    # the reference controller reads bench time and scale from its site file; any other runs on its own clock
    clock = table.get("clock", "bench" if command == list(REFERENCE_COMMAND) else "own")
    if clock not in CLOCKS:
        raise reader.error("controller", "clock", f"expected one of {', '.join(CLOCKS)}, got {clock!r}")
    return ControllerConfig(
        clock=clock,
        configure=tuple(configure) if configure is not None else None,
        configure_restarts=bool(table.get("configure_restarts", False)),
        settings=tuple(settings),
        session=session,
        reset=tuple(reset) if reset is not None else None,
        command=tuple(command) if command is not None else None,
        env=dict(env),
        cwd=cwd,
        ciphers=ciphers,
        csip_device=csip_device,
        lfdi=lfdi.upper() if lfdi else None,
        cert=cert,
        local_api=(match.group(1), int(match.group(2))),
        firm_export_limit_w=numbers["firm_export_limit_w"],
        firm_import_limit_w=numbers["firm_import_limit_w"],
        telemetry_tolerance_w=tolerance,
        start_timeout_s=start_timeout,
        base_dir=reader.path.parent,
        declaration=declaration,
    )


def _lfdi_of(reader: Any, cert: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from flexbench.signals.pki.identity import lfdi_from_der

    try:
        der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    except ValueError:
        raise reader.error("controller", "cert", f"{cert} is not a PEM certificate") from None
    return lfdi_from_der(der)
