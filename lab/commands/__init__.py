"""Subcommands of the `flexbench` command line.

Each module named in COMMANDS defines `add_parser(subparsers)`, which adds its
subparser and sets `func(args) -> int` as the parser default. Listed
explicitly, with the one-line help shown by `flexbench --help`, so the command
set is visible in one place and only the command being run is imported.
"""

COMMANDS: dict[str, str] = {
    "run": "run test plans and write a report",
    "plans": "list test plans, their tests and the requirements they check",
    "report": "rebuild a run's report from its folder",
    "instruments": "list supported instruments or probe a bench",
    "emulate": "serve one emulated instrument on loopback until interrupted",
    "certs": "test PKI: CA, server and device certificates (P-256)",
    "csip": "IEEE 2030.5 (CSIP, CSIP-AUS) head-end and operator actions",
    "opcua": "OPC-UA envelope server, certificates and operator actions",
    "envelope": "operating envelopes (static, variable, dynamic) for sites on a feeder",
    "ami-envelope": "static or variable envelopes per meter from AMI data alone, with no feeder model",
    "swarm": "simulated CSIP sites against a 2030.5 server: requests/s, latency, errors, stale sites",
    "replay": "replay a field event on a bench and score the match with the field trace",
    "cosim": "PHIL co-simulation: the feeder twin drives the grid simulator (in one process or over HELICS)",
}
