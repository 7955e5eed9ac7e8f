"""IEEE 2030.5 (CSIP, CSIP-AUS) head-end and DER client.

Server: `CsipServer` (asyncio) / `ServerThread` (own thread), state in SQLite.
Operator: `HeadEnd` in process (server.headend) or `OperatorClient` over HTTPS.
DER side: `CsipClient`, with the event rules in `events`.
"""

from typing import TYPE_CHECKING

from flexbench.core.lazy import lazy_exports

if TYPE_CHECKING:
    from flexbench.signals.csip.client import CsipClient, CsipClientError, RegistrationError
    from flexbench.signals.csip.controls import ControlValues
    from flexbench.signals.csip.events import ActiveControl, EventScheduler
    from flexbench.signals.csip.headend import HeadEnd, HeadEndConfig
    from flexbench.signals.csip.operator_api import OperatorApi
    from flexbench.signals.csip.operator_client import OperatorClient, OperatorError
    from flexbench.signals.csip.runner import CsipServer, ServerThread
    from flexbench.signals.csip.tls import CSIP_CIPHERS, INTEROP_CIPHERS

__all__ = [
    "CSIP_CIPHERS",
    "INTEROP_CIPHERS",
    "ActiveControl",
    "ControlValues",
    "CsipClient",
    "CsipClientError",
    "CsipServer",
    "EventScheduler",
    "HeadEnd",
    "HeadEndConfig",
    "OperatorApi",
    "OperatorClient",
    "OperatorError",
    "RegistrationError",
    "ServerThread",
]

# imported on first use (see flexbench.core.lazy)
_EXPORTS = {
    "CsipClient": "client",
    "CsipClientError": "client",
    "RegistrationError": "client",
    "ControlValues": "controls",
    "ActiveControl": "events",
    "EventScheduler": "events",
    "HeadEnd": "headend",
    "HeadEndConfig": "headend",
    "OperatorApi": "operator_api",
    "OperatorClient": "operator_client",
    "OperatorError": "operator_client",
    "CsipServer": "runner",
    "ServerThread": "runner",
    "CSIP_CIPHERS": "tls",
    "INTEROP_CIPHERS": "tls",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
