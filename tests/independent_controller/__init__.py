"""An independent site controller, written without any flexbench code, to test the bench against.

It is what a vendor's controller is to the bench: its own process, its own JSON
configuration, plain pymodbus for SunSpec Modbus to the site's inverters and
meter, and IEEE 2030.5 over mutual TLS (http.client, ssl, lxml) to the
utility's server. `lab/benches/independent-controller.toml` runs it through
`adapter.py`, which turns the bench's controller-site.toml into its JSON.

    python -m independent_controller CONFIG.json [--variant NAME]   (from tests/)

Variants, each breaking one requirement on purpose: ignores-import (never applies
an import limit), keeps-superseded (keeps a control a newer one superseded),
no-failsafe (keeps its last setting when its meter goes silent).
"""
