"""flexbench.instruments: what a test bench talks to.

- roles: the interfaces test plans use (GridSimulator, PowerAnalyzer, DER), errors, SafetyLimits.
- addresses: bench-file addresses (VISA resource strings, modbus+tcp://, modbus+rtu://).
- transports: VISA message sessions and Modbus register access, each stating its
  timeout, reconnection and thread policy.
- scpi: the SCPI driver base with declarative settings and error-queue checks.
- sunspec: SunSpec register layouts from pysunspec2's model definitions.
- drivers: one class per instrument model; registry: the names bench files use.
- emulators: every driver's instrument on a loopback port, for tests and the virtual lab.
"""
