"""The adapter: the bench's site file and settings into the controller's own configuration."""

from __future__ import annotations

import json

from flexbench.lab.controller.site_file import write_site_file

from .adapter import CONFIG_NAME, SETTINGS_NAME, configure, convert
from .config import SiteSettings, load
from .events import Limits


def test_the_site_file_becomes_a_configuration_the_controller_loads(tmp_path):
    for name in ("ca.pem", "me.pem", "me.key"):
        (tmp_path / name).write_text("-")
    site_file = write_site_file(
        tmp_path / "controller-site.toml",
        clock={"time_scale": 1.0, "bench_s": 0.0, "wall_s": 0.0},
        site_map={
            "meter": {"name": "meter", "address": "127.0.0.1:1502", "unit_id": 1, "family": "sunspec", "model": 203},
            "inverters": [
                {
                    "name": "pv2",
                    "address": "127.0.0.1:1503",
                    "unit_id": 2,
                    "family": "sunspec-legacy",
                    "kind": "pv",
                    "rated_w": 4000.0,
                },
                {
                    "name": "battery",
                    "address": "127.0.0.1:1504",
                    "unit_id": 1,
                    "family": "sunspec-7xx",
                    "kind": "battery",
                    "rated_w": 5000.0,
                },
            ],
        },
        utility={
            "url": "https://127.0.0.1:8443",
            "ca": "ca.pem",
            "cert": "me.pem",
            "key": "me.key",
            "ciphers": "ECDHE-ECDSA-AES128-CCM8",
            "lfdi": "AB" * 20,
        },
        firm={"export_limit_w": 5000.0, "import_limit_w": None},
        local_api=None,
    )
    (tmp_path / CONFIG_NAME).write_text(json.dumps(convert(site_file)))
    config = load(tmp_path / CONFIG_NAME)
    assert [(d.name, d.port, d.unit, d.role, d.rating_w) for d in config.inverters] == [
        ("pv2", 1503, 2, "pv", 4000.0),
        ("battery", 1504, 1, "battery", 5000.0),
    ]
    assert (config.meter.host, config.meter.port) == ("127.0.0.1", 1502)
    assert config.server is not None and config.server.lfdi == "AB" * 20
    assert (config.firm_export_w, config.firm_import_w) == (5000.0, None)
    assert config.settings_file == tmp_path / SETTINGS_NAME


def test_settings_from_the_bench_reach_a_running_controller_without_a_restart(tmp_path):
    settings = SiteSettings(tmp_path / SETTINGS_NAME)
    assert settings.limits() == Limits()
    bench_file = tmp_path / "controller-settings.json"
    bench_file.write_text(json.dumps({"export_limit_w": 2000.0, "import_limit_w": None}))
    configure(bench_file, tmp_path)
    assert settings.limits() == Limits(export_w=2000.0)
    bench_file.write_text(json.dumps({"export_limit_w": None, "import_limit_w": 7000.0}))
    configure(bench_file, tmp_path)
    assert settings.limits() == Limits(import_w=7000.0)
