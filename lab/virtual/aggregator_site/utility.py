"""The utility's side of the aggregator site, in the run: the group on the 2030.5 server and its shares.

`register_group` registers the aggregator's certificate as a CSIP-AUS
aggregator and each home as a site it manages (on the bench's server, before
the plans publish anything; the aggregator's clients keep trying until their
sites are listed). `Group.shares` is each home's share of the transformer
(or of any capacity, e.g. an abnormal-operation maximum import for the group),
by the bench's allocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flexbench.lab.bench_config import BenchError
from flexbench.lab.virtual.aggregator_site.transformer import allocate_capacity


@dataclass(frozen=True)
class Home:
    name: str
    lfdi: str
    service_import_limit_w: float
    service_export_limit_w: float


@dataclass(frozen=True)
class Group:
    aggregator_lfdi: str
    transformer: str
    rating_w: float
    allocation: str
    homes: dict[str, Home]

    def shares(self, capacity_w: float | None = None, side: str = "import") -> dict[str, float]:
        """Each home's share (W) of the transformer's rating (or of `capacity_w`), by the bench's allocation."""
        own = [h.service_import_limit_w if side == "import" else h.service_export_limit_w for h in self.homes.values()]
        capacity = self.rating_w if capacity_w is None else capacity_w
        return dict(zip(self.homes, allocate_capacity(capacity, own, self.allocation)))


def register_group(bench: Any) -> Group:
    """Register the aggregator and its homes on the bench's 2030.5 server (idempotent); the group as registered."""
    site = getattr(bench.virtual_lab, "site", None)
    site_map = site.site_map() if site is not None else {}
    ctl = bench.config.controller
    if bench.csip is None or ctl is None or ctl.csip_device is None or "homes" not in site_map:
        raise BenchError(
            f'{bench.config.path}: the aggregator plans need an aggregator site ([virtual] site = "aggregator"), '
            "[signals.csip] and a [controller] with csip_device (see lab/benches/virtual-aggregator.toml)"
        )
    headend = bench.csip.headend
    aggregator_lfdi = ctl.lfdi or bench.csip.lfdis[ctl.csip_device]
    headend.register_device(aggregator_lfdi, kind="aggregator", description="aggregator under test")
    homes = {}
    for name, home in site_map["homes"].items():
        headend.register_device(
            home["lfdi"],
            aggregator_lfdi=aggregator_lfdi,
            limit_mode="site",
            rated_w=home["service_import_limit_w"],
            description=f"site {name}, aggregated",
        )
        homes[name] = Home(name, home["lfdi"], home["service_import_limit_w"], home["service_export_limit_w"])
    t = site_map["transformer"]
    return Group(aggregator_lfdi, t["name"], float(t["rating_w"]), t["allocation"], homes)


__all__ = ["Group", "Home", "register_group"]
