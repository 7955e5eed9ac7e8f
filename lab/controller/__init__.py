"""Controller in the loop: a site controller under test, started and watched by the bench.

The bench file's [controller] table (config.py) names the controller's
command, environment and working folder, its 2030.5 identity and TLS
ciphers, and how its telemetry is judged. The bench writes the controller's
site file (site_file.py), starts and supervises the process (supervisor.py),
and turns what it sees into findings: a crash (CTL-ALIVE) and telemetry that
disagrees with the plant (CTL-TELEM, telemetry.py).
"""
