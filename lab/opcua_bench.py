"""The bench's OPC-UA envelope server: the utility side that OPC-UA test plans drive.

Started with the bench when its file has a [signals.opcua] table; its PKI and
accounts are made in the run folder. Time on the server (heartbeat, envelope
intervals) is bench time, so the virtual bench can run faster than real time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flexbench.lab.bench_config import OpcuaConfig
from flexbench.lab.clock import ScaledClock
from flexbench.signals.opcua import EnvelopeServerConfig, EnvelopeServerThread, SiteSpec, provision


class BenchOpcua:
    def __init__(self, config: OpcuaConfig, work_dir: Path, clock: ScaledClock) -> None:
        self.config = config
        self.clock = clock
        self.pki_dir = Path(work_dir) / "opcua-pki"
        provision(self.pki_dir, list(config.sites))
        sites = [SiteSpec(name=name, **values) for name, values in config.sites.items()]
        self.server = EnvelopeServerThread(EnvelopeServerConfig(
            sites=sites, certs_dir=self.pki_dir, endpoint="opc.tcp://127.0.0.1:0/flexbench/envelopes",
            heartbeat_interval_s=config.heartbeat_interval_s, tick_s=max(0.02, 0.2 / clock.time_scale),
            clock=clock.now,
        ))

    def start(self) -> str:
        self.server.start()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def __getattr__(self, name: str) -> Any:
        """Operator calls (publish_envelope, set_limits, signal_abnormal, pause_heartbeat...) go to the server."""
        return getattr(self.server, name)

    def close(self) -> None:
        self.server.stop()
