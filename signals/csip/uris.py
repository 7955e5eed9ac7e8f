"""Every URI the 2030.5 server serves, as one table of templates.

The server's routes, the hrefs the renderers write, the Location headers, the
notifier's resource keys and the render cache's keys are all made from these
templates, so a resource cannot be served at one address and linked at another.
A `{name}` placeholder is a decimal id; `{name:REGEX}` names its own pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^{}]+))?\}")
_ID = r"\d+"


@dataclass(frozen=True)
class Uri:
    """One URI template: `href(...)` fills it, `pattern` matches it (one group per placeholder, in order)."""

    template: str
    names: tuple[str, ...] = field(init=False)
    pattern: re.Pattern[str] = field(init=False)
    route: str = field(init=False)  # the template as an aiohttp route, each placeholder with its pattern
    _format: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts = _PLACEHOLDER.findall(self.template)
        object.__setattr__(self, "names", tuple(name for name, _ in parts))
        object.__setattr__(self, "pattern", re.compile(f"^{_as_regex(self.template)}$"))
        object.__setattr__(
            self, "route", _PLACEHOLDER.sub(lambda mt: f"{{{mt.group(1)}:{mt.group(2) or _ID}}}", self.template)
        )
        object.__setattr__(self, "_format", _PLACEHOLDER.sub("{}", self.template))

    def href(self, *values: int | str) -> str:
        """The URI with its placeholders filled in order: `DERC.href(edev, program, control)`."""
        if len(values) != len(self.names):
            raise TypeError(f"{self.template} takes {len(self.names)} values, got {len(values)}")
        return self._format.format(*values)


def _as_regex(template: str) -> str:
    """The template as a regex: literal text escaped, each placeholder a capturing group."""
    out, last = [], 0
    for mt in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[last : mt.start()]))
        out.append(f"({mt.group(2) or _ID})")
        last = mt.end()
    out.append(re.escape(template[last:]))
    return "".join(out)


# Function set roots -------------------------------------------------------------------------
DCAP = Uri("/dcap")
TIME = Uri("/tm")
EDEV_LIST = Uri("/edev")
MUP_LIST = Uri("/mup")
MUP = Uri("/mup/{mup}")
RSPS = Uri("/rsps")
RSP_SET = Uri("/rsps/{rsps}")
RSP_LIST = Uri("/rsps/{rsps}/rsp")
RSP = Uri("/rsps/{rsps}/rsp/{rsp}")
ADMIN_CALL = Uri("/admin/call/{method:[A-Za-z_]+}")

# An EndDevice's tree ---------------------------------------------------------------------------
EDEV = Uri("/edev/{edev}")
REGISTRATION = Uri("/edev/{edev}/rg")
CONNECTION_POINT = Uri("/edev/{edev}/cp")
FSA_LIST = Uri("/edev/{edev}/fsa")
FSA = Uri("/edev/{edev}/fsa/{fsa}")
DERP_LIST = Uri("/edev/{edev}/fsa/{fsa}/derp")
DERP = Uri("/edev/{edev}/derp/{derp}")
DERC_LIST = Uri("/edev/{edev}/derp/{derp}/derc")
ACTDERC_LIST = Uri("/edev/{edev}/derp/{derp}/actderc")
DERC = Uri("/edev/{edev}/derp/{derp}/derc/{derc}")
DDERC = Uri("/edev/{edev}/derp/{derp}/dderc")
DER_LIST = Uri("/edev/{edev}/der")
DER = Uri("/edev/{edev}/der/{der}")
DER_DOCUMENT = Uri("/edev/{edev}/der/{der}/{kind:dercap|derg|ders|dera}")
SUB_LIST = Uri("/edev/{edev}/sub")
SUB = Uri("/edev/{edev}/sub/{sub}")
LEL_LIST = Uri("/edev/{edev}/lel")
LEL = Uri("/edev/{edev}/lel/{lel}")

# Pricing, in an EndDevice's tree ----------------------------------------------------------------
TP_LIST = Uri("/edev/{edev}/fsa/{fsa}/tp")
TP = Uri("/edev/{edev}/tp/{tp}")
RC_LIST = Uri("/edev/{edev}/tp/{tp}/rc")
RC = Uri("/edev/{edev}/tp/{tp}/rc/{rc}")
RT = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/rt")
TTI_LIST = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/tti")
ACTTTI_LIST = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/acttti")
TTI = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/tti/{tti}")
CTI_LIST = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/tti/{tti}/cti")
CTI = Uri("/edev/{edev}/tp/{tp}/rc/{rc}/tti/{tti}/cti/{cti}")

EDEV_PREFIX = re.compile(r"^/edev/(\d+)(?:/|$)")  # the EndDevice whose tree a path is in
