"""The pollRate each listed resource announces: the operator's per-device setting, else its server-wide
one for that resource, else the head-end's default. Held in memory (one dict lookup per rendering) and in
the store (it survives a restart)."""

from __future__ import annotations

from flexbench.signals.csip import uris
from flexbench.signals.csip.store import Store

EVERY_DEVICE = 0  # edev_id of a server-wide setting
FIRST_FSA = 1
# 2030.5 resources that carry a pollRate -> their URI; one with placeholders is in an EndDevice's tree
# (its first FunctionSetAssignments' where it has an fsa)
POLLED_RESOURCES = {
    "DeviceCapability": uris.DCAP,
    "EndDeviceList": uris.EDEV_LIST,
    "MirrorUsagePointList": uris.MUP_LIST,
    "Registration": uris.REGISTRATION,
    "FunctionSetAssignmentsList": uris.FSA_LIST,
    "DERProgramList": uris.DERP_LIST,
    "DERList": uris.DER_LIST,
    "LogEventList": uris.LEL_LIST,
    "TariffProfileList": uris.TP_LIST,
}
MAX_POLL_RATE_S = 2**32 - 1  # UInt32


class PollRates:
    def __init__(self, store: Store, default_s: int) -> None:
        self.store = store
        self.default_s = default_s
        self._rates: dict[tuple[int, str], int] = {}
        self.reload()

    def reload(self) -> None:
        """Read the settings again (another process may have changed them)."""
        rows = self.store.all("SELECT edev_id, resource, rate_s FROM poll_rates")
        self._rates = {(r["edev_id"], r["resource"]): int(r["rate_s"]) for r in rows}

    def rate_s(self, resource: str, edev_id: int | None) -> int:
        """What `resource` announces to the EndDevice `edev_id` (None: an unregistered client)."""
        if edev_id is not None and (edev_id, resource) in self._rates:
            return self._rates[(edev_id, resource)]
        return self._rates.get((EVERY_DEVICE, resource), self.default_s)

    def set(self, resource: str, rate_s: int | None, edev_id: int = EVERY_DEVICE) -> None:
        """Set (None: clear, falling back to the server-wide one, then the default) a resource's pollRate."""
        if resource not in POLLED_RESOURCES:
            raise ValueError(f"resource must be one of {sorted(POLLED_RESOURCES)}, got {resource!r}")
        if rate_s is None:
            self.store.run("DELETE FROM poll_rates WHERE edev_id=? AND resource=?", (edev_id, resource))
            self._rates.pop((edev_id, resource), None)
            return
        if isinstance(rate_s, bool) or not isinstance(rate_s, int) or not 1 <= rate_s <= MAX_POLL_RATE_S:
            raise ValueError(f"rate_s must be a whole number of seconds from 1 to {MAX_POLL_RATE_S}, got {rate_s!r}")
        self.store.run(
            "INSERT OR REPLACE INTO poll_rates (edev_id, resource, rate_s) VALUES (?,?,?)", (edev_id, resource, rate_s)
        )
        self._rates[(edev_id, resource)] = rate_s

    def forget(self, edev_id: int) -> None:
        """Drop a deregistered device's own settings."""
        self.store.run("DELETE FROM poll_rates WHERE edev_id=?", (edev_id,))
        self._rates = {key: rate for key, rate in self._rates.items() if key[0] != edev_id}


def per_device(resource: str) -> bool:
    """Whether each EndDevice has its own `resource` (else one list serves every client)."""
    return bool(POLLED_RESOURCES[resource].names)


def href(resource: str, edev_id: int) -> str:
    uri = POLLED_RESOURCES[resource]
    return uri.href(*(edev_id, FIRST_FSA)[: len(uri.names)])
