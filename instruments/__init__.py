"""flexbench.instruments: what a test bench talks to.

- roles: the interfaces test plans use (GridSimulator, PVSimulator, ACLoad,
  PowerAnalyzer, Meter, DER, PowerControlSystem), their readings, errors,
  SafetyLimits and profile steps.
- addresses: bench-file addresses (VISA resource strings, modbus+tcp://, modbus+rtu://).
- transports: VISA message sessions and Modbus register access (TCP and RTU),
  each stating its timeout, reconnection and thread policy.
- scpi: the SCPI driver base with declarative settings and error-queue checks.
- sunspec: SunSpec register layouts from pysunspec2's model definitions, and
  the discovery and point access the SunSpec drivers share.
- regmap: Modbus devices described by data (TOML register maps): client,
  driver base and bundled maps of real meters.
- drivers: one class per instrument model; registry: the names bench files use.
- emulators: every driver's instrument on a loopback port (or a virtual serial
  pair for Modbus RTU), for tests and the virtual lab.
"""
