"""OPC-UA limit signals: a secured envelope server for sites and SCADA, and the bench's clients.

- `EnvelopeServer` (async) / `EnvelopeServerThread` (sync): the operator side.
- `SiteClient` / `SiteClientThread`: a site watching its limits and writing back.
- `OperatorClient`: publish and signal abnormal operation remotely.
- `DeviceClient` / `DeviceClientThread`: write limits into a device's own server;
  `DevicePointServer`: such a device server, for the virtual DUT and tests.
- `provision`, `OpcuaPKI`, `ClientSecurity`: certificates, accounts, logins.
"""

from flexbench.signals.opcua.accounts import Account, AccountStore
from flexbench.signals.opcua.connection import ClientSecurity, open_client
from flexbench.signals.opcua.device_client import DeviceClient, Measurement, Point
from flexbench.signals.opcua.device_server import DevicePoint, DevicePointServer, DeviceServerSecurity
from flexbench.signals.opcua.envelope import EnvelopeError
from flexbench.signals.opcua.model import NAMESPACE_URI, OperatingMode, SiteSpec
from flexbench.signals.opcua.operator_client import OperatorClient
from flexbench.signals.opcua.pki import OpcuaPKI
from flexbench.signals.opcua.provisioning import provision, read_password
from flexbench.signals.opcua.server import EnvelopeServer, EnvelopeServerConfig, SiteReport, SiteSnapshot
from flexbench.signals.opcua.site_client import SiteClient, SiteSignals, WriteRefused
from flexbench.signals.opcua.threaded import DeviceClientThread, EnvelopeServerThread, LoopThread, SiteClientThread

__all__ = [
    "Account",
    "AccountStore",
    "ClientSecurity",
    "DeviceClient",
    "DeviceClientThread",
    "DevicePoint",
    "DevicePointServer",
    "DeviceServerSecurity",
    "EnvelopeError",
    "EnvelopeServer",
    "EnvelopeServerConfig",
    "EnvelopeServerThread",
    "LoopThread",
    "Measurement",
    "NAMESPACE_URI",
    "OpcuaPKI",
    "OperatingMode",
    "OperatorClient",
    "Point",
    "SiteClient",
    "SiteClientThread",
    "SiteReport",
    "SiteSignals",
    "SiteSnapshot",
    "SiteSpec",
    "WriteRefused",
    "open_client",
    "provision",
    "read_password",
]
