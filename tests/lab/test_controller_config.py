"""The bench file's [controller] table, the controller's site file, and the cipher list it sets on the server."""

from __future__ import annotations

import socket
import ssl
import tomllib
from pathlib import Path

import pytest

from flexbench.lab.bench_config import BenchError, load_bench
from flexbench.lab.controller.site_file import site_file_text
from flexbench.lab.virtual.reference_controller.site_file import load_site_file
from flexbench.signals.csip.tls import CSIP_CIPHERS, INTEROP_CIPHERS

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "lab/benches/virtual-controller.toml"


def _bench(tmp_path: Path, controller: str) -> Path:
    text = BENCH.read_text()
    head, _, tail = text.partition("[controller]")
    rest = tail[tail.index("\n[instruments.pcs]") :]
    path = tmp_path / "bench.toml"
    path.write_text(head + "[controller]\n" + controller + "\n" + rest)
    return path


def test_the_controller_bench_is_valid_and_names_the_reference_controller():
    config = load_bench(BENCH)
    ctl = config.controller
    assert ctl.command[:3] == ("{python}", "-m", "flexbench.lab.virtual.reference_controller")
    assert ctl.ciphers == CSIP_CIPHERS and ctl.csip_device == "controller" and ctl.local_api == ("127.0.0.1", 0)
    assert config.instruments["pcs"].address == "controller"
    assert ctl.declaration == "reference-controller"  # testplans/declarations/reference-controller.toml
    assert config.instruments["battery"].role == "der"  # the battery's own request


def test_the_reference_controllers_declaration_leaves_current_limiting_out(tmp_path):
    from flexbench.lab.declaration import DeclarationError, load_pcs_declaration, not_applicable

    d = load_pcs_declaration(ROOT / "testplans/declarations/reference-controller.toml")
    assert d.ev_rated_power_w == 0.0 and d.pv_rated_power_w == 10000.0 and d.battery_rated_power_w == 5000.0
    assert not_applicable(d, "export-limiting") is None and "not applicable" in not_applicable(d, "current-limiting")
    assert (
        not_applicable(load_pcs_declaration(ROOT / "testplans/declarations/virtual-pcs.toml"), "current-limiting")
        is None
    )  # no [functions]: every function declared
    text = (ROOT / "testplans/declarations/reference-controller.toml").read_text()
    for old, new, message in (
        ('"export-limiting", "import-limiting"', '"export-limiting", "busbar"', r"unknown function 'busbar'"),
        (
            '"import-limiting", "modes"]',
            '"import-limiting", "modes", "current-limiting"]',
            r"settings.current_limit_a: missing",
        ),
    ):
        path = tmp_path / "declaration.toml"
        path.write_text(text.replace(old, new))
        with pytest.raises(DeclarationError, match=rf"declaration.toml:\d+: .*{message}"):
            load_pcs_declaration(path)


def test_a_profile_sets_values_for_one_bench_by_its_name(tmp_path):
    from flexbench.lab.profile import Profile, ProfileError

    shipped = Profile.load(ROOT / "testplans/profiles/envelopes.toml")
    plan = shipped.for_bench("virtual-controller").data["plans"]["envelopes"]
    assert plan["import_stress_ev_w"] == 0.0 and plan["import_stress_battery_w"] == -5000.0
    assert plan["import_stress_load_w"] == shipped.data["plans"]["envelopes"]["import_stress_load_w"]
    assert shipped.for_bench("virtual-pcs").data["plans"]["envelopes"]["import_stress_ev_w"] == 4500.0
    path = tmp_path / "p.toml"
    path.write_text("[plans.a]\nx = 1\n[benches.b.plans.c]\nx = 2\n")
    with pytest.raises(ProfileError, match=r"p.toml: \[benches.b.plans.c\]: no \[plans.c\] table"):
        Profile.load(path).for_bench("b")


@pytest.mark.parametrize(
    "table, key, message",
    [
        ('command = ["{python}", "{sitefile}"]', "command", "unknown placeholder {sitefile}"),
        ("command = []", "command", "non-empty list"),
        ('ciphers = "NOT-A-CIPHER"', "ciphers", "no usable cipher suite"),
        ('csip_device = "gateway"', "csip_device", "names no [signals.csip.devices.gateway]"),
        ('lfdi = "12AB"', "lfdi", "40 hexadecimal digits"),
        ('local_api = "localhost"', "local_api", "host:port"),
        ("telemetry_tolerance_w = 0", "telemetry_tolerance_w", "must be positive"),
        ("env = { A = 1 }", "env", "expected a string"),
        ('comand = ["x"]', "comand", "did you mean 'command'"),
        ('declaration = "nowhere.toml"', "declaration", "no declaration file at"),
        ('declaration = "my declaration"', "declaration", "a declaration name or a .toml file"),
        ('clock = "utc"', "clock", "expected one of own, bench"),
        ('configure = ["set", "{settings}"]', "configure", "unknown placeholder {settings}"),
        ('settings = ["export_limit_w"]', "settings", "add configure"),
        ('session = "each"', "session", "expected one of per-test, shared"),
    ],
)
def test_controller_table_errors_name_file_line_and_key(tmp_path, table, key, message):
    path = _bench(tmp_path, table)
    with pytest.raises(BenchError) as exc:
        load_bench(path)
    text = str(exc.value)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(table.split(" ")[0]))
    assert text.startswith(f"{path}:{line}: controller.{key}") and message in text, text


def test_configure_settings_and_reset_are_checked(tmp_path):
    path = _bench(tmp_path, 'configure = ["set", "{settings_file}"]\nsettings = ["export_limit_w", "power_factor"]')
    with pytest.raises(BenchError, match=r"controller.settings: unknown setting 'power_factor'"):
        load_bench(path)
    path = _bench(tmp_path, 'reset = ["./reset.sh"]\nsession = "shared"')
    with pytest.raises(
        BenchError, match=r'controller.reset: a reset command runs before each test: session = "per-test"'
    ):
        load_bench(path)
    config = load_bench(_bench(tmp_path, 'configure = ["set", "{settings_file}", "{run_dir}"]')).controller
    assert config.configure == ("set", "{settings_file}", "{run_dir}") and config.session == "per-test"
    assert config.settings == ("export_limit_w", "import_limit_w") and not config.configure_restarts


def test_a_controller_on_its_own_clock_is_run_at_time_scale_1_only(tmp_path):
    """An external controller keeps its own clock: a faster bench would judge it on the wrong time; the reference
    controller, which reads bench time from its site file, and one declared clock = "bench" run at any scale."""
    import subprocess
    import sys

    assert load_bench(BENCH).controller.refuses_time_scale(10) is None  # clock = "bench"
    assert load_bench(_bench(tmp_path, "")).controller.refuses_time_scale(10) is None  # the reference by default
    external = load_bench(_bench(tmp_path, 'command = ["my-controller", "{site_file}"]')).controller
    assert external.clock == "own" and external.refuses_time_scale(1.0) is None
    assert "--time-scale 1" in external.refuses_time_scale(10)
    declared = _bench(tmp_path, 'command = ["my-controller", "{site_file}"]\nclock = "bench"')
    assert load_bench(declared).controller.refuses_time_scale(10) is None
    path = _bench(tmp_path, 'command = ["my-controller", "{site_file}"]')
    proc = subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", "run", "testplans/ul3141/test_limit_change.py"]
        + ["--bench", str(path), "--time-scale", "10", "--out", str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if "own clock" in line]
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_an_instrument_at_the_controller_needs_a_controller_table(tmp_path):
    text = BENCH.read_text()
    head, _, tail = text.partition("[controller]")
    path = tmp_path / "bench.toml"
    path.write_text(head + tail[tail.index("\n[instruments.pcs]") :])
    with pytest.raises(BenchError, match=r"instruments\.pcs\.address: 'controller' needs a \[controller\] table"):
        load_bench(path)


def test_interop_and_explicit_cipher_lists():
    from flexbench.lab.controller.config import resolve_ciphers

    assert resolve_ciphers("interop") == INTEROP_CIPHERS
    assert resolve_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"


def test_site_file_round_trip(tmp_path):
    site_map = {
        "meter": {
            "name": "meter",
            "address": "127.0.0.1:1502",
            "transport": "tcp",
            "unit_id": 1,
            "family": "sunspec",
            "model": 203,
        },
        "inverters": [
            {
                "name": "pv1",
                "address": "127.0.0.1:1503",
                "transport": "tcp",
                "unit_id": 2,
                "family": "sunspec-legacy",
                "kind": "pv",
                "rated_w": 6000.0,
            }
        ],
    }
    path = tmp_path / "controller-site.toml"
    path.write_text(
        site_file_text(
            clock={"time_scale": 20.0, "bench_s": 100.0, "wall_s": 50.0},
            site_map=site_map,
            utility={
                "url": "https://127.0.0.1:8443",
                "ca": "ca.pem",
                "cert": "c.pem",
                "key": "k.pem",
                "ciphers": CSIP_CIPHERS,
            },
            firm={"export_limit_w": 5000.0, "import_limit_w": None},
            local_api="127.0.0.1:1600",
        )
    )
    site = load_site_file(path)
    assert site.time_scale == 20.0 and site.meter.options == {"meter_model": 203}
    assert site.inverters[0].family == "sunspec-legacy" and site.inverters[0].unit_id == 2
    assert site.utility.cert == tmp_path / "c.pem" and site.firm_export_limit_w == 5000.0
    assert site.firm_import_limit_w is None and (site.api_host, site.api_port) == ("127.0.0.1", 1600)
    assert tomllib.loads(path.read_text())["inverters"][0]["rated_w"] == 6000.0


def _gcm_only_handshake(port: int, ca: Path, cert: Path, key: Path) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")  # a Node.js or Go client: no CCM-8
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except ssl.SSLError:
        return False


@pytest.mark.parametrize("choice, accepted", [("strict", False), ("interop", True)])
def test_the_server_offers_the_controllers_cipher_list(tmp_path, choice, accepted):
    """The bench's 2030.5 server, as [controller] ciphers sets it, with the controller's own certificate."""
    from flexbench.lab.bench_config import load_bench as load
    from flexbench.lab.clock import ScaledClock
    from flexbench.lab.controller.bench import csip_config_for
    from flexbench.lab.csip_bench import BenchCsip

    config = load(_bench(tmp_path, f'ciphers = "{choice}"\ncsip_device = "controller"'))
    csip = BenchCsip(csip_config_for(config), tmp_path, ScaledClock(1.0), ciphers=config.controller.ciphers)
    try:
        csip.start()
        url = csip.url
        ident = csip.identity("controller")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert _gcm_only_handshake(port, csip.pki.ca_cert_path, ident.cert_path, ident.key_path) is accepted
        assert csip.headend.devices()[0].lfdi == csip.lfdis["controller"]  # registered before the run
    finally:
        csip.close()
