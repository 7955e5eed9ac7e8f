"""Command specifications: the loader, the emulators they serve, and every model's spec against its emulator.

The tests parametrized over model_spec_names() run for every spec file in
instruments/specs/: adding a model's spec (and `spec_name` on its emulator)
puts it under all of them, through plain pyvisa as a lab's own script would
talk to the instrument.
"""

from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
import pyvisa

from flexbench.instruments.emulators import EMULATORS
from flexbench.instruments.emulators.scpi_server import ScpiEmulator
from flexbench.instruments.specs import SpecError, check_log, load_spec, load_spec_file, model_spec_names
from flexbench.instruments.specs.headers import spellings

MODELS = model_spec_names()
VISA_TIMEOUT_MS = 3000


def emulator_of(name: str) -> ScpiEmulator:
    emulator = EMULATORS[name]()
    assert isinstance(emulator, ScpiEmulator)
    return emulator


@contextmanager
def served(name: str, rm):
    """The model's emulator on a loopback port, and a plain pyvisa session to it."""
    emulator = emulator_of(name).start()
    inst = rm.open_resource(emulator.address, read_termination="\n", write_termination="\n")
    inst.timeout = VISA_TIMEOUT_MS
    for message in getattr(emulator, "session_start", ()):  # what a client sends first (headers off, a language)
        inst.write(message)
    try:
        yield emulator, inst
    finally:
        inst.close()
        emulator.stop()


@pytest.fixture
def rm():
    # Not closed: closing a ResourceManager closes every session of the library, the drivers' too.
    return pyvisa.ResourceManager("@py")


def error_query(emulator: ScpiEmulator) -> str:
    """The model's error query; *ESR? for a model without an error queue (its reply is nonzero on errors)."""
    patterns = emulator.error_query_patterns
    return spellings(patterns[0])[0] if patterns else "*ESR?"


def error_number(reply: str) -> int:
    return int(reply.split(",", 1)[0])


# -- every model -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_spec_loads_and_its_emulator_serves_it(name):
    spec = load_spec(name)
    assert spec.manual.title and spec.manual.source and spec.commands
    assert name in EMULATORS, f"{name}.toml names no emulated model"
    emulator = emulator_of(name)
    assert emulator.spec is spec
    assert emulator.negative_error_codes is spec.manual.negative_errors


@pytest.mark.parametrize("name", MODELS)
def test_every_hand_written_handler_is_in_the_spec(name):
    spec = load_spec(name)
    emulator = emulator_of(name)
    missing = [
        spelling
        for pattern in emulator.handler_patterns
        for spelling in spellings(pattern)
        if spec.find(spelling) is None
    ]
    assert missing == [], f"{name}: the emulator accepts headers its manual does not define"


@pytest.mark.parametrize("name", MODELS)
def test_spec_commands_the_emulator_does_not_implement_answer_as_the_manual_says(name, rm):
    """Each command served from the spec: a valid use queues no error, a setting's query reads it back;
    the common queries answer without an error."""
    spec = load_spec(name)
    with served(name, rm) as (emulator, inst):
        errors = error_query(emulator)
        checked = 0
        for command in spec.commands:
            short, _ = spellings(command.header)
            if command.kind in ("setting", "command") and not emulator.handled_by_hand(short):
                args = command.example()
                inst.write(f"{short} {args}".strip())
                assert error_number(inst.query(errors)) == 0, f"{name}: {short} {args}"
                if command.kind == "setting" and not emulator.handled_by_hand(short + "?"):
                    expected = command.reply_text(command.parse(args, query=False) if command.params else None)
                    query = f"{short}? {command.query_example()}".strip()
                    assert inst.query(query) == expected, f"{name}: {query}"
                checked += 1
            elif command.kind == "query" and (short.startswith("*") or not emulator.handled_by_hand(short + "?")):
                # the IEEE 488.2 queries answer in any state; the models' own may depend on it
                reply = inst.query(f"{short}? {command.example()}".strip())
                if not emulator.handled_by_hand(short + "?"):
                    assert reply == command.reply_text(None), f"{name}: {short}?"
                assert reply and error_number(inst.query(errors)) == 0, f"{name}: {short}?"
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("name", MODELS)
def test_a_header_not_in_the_spec_gets_the_models_undefined_header_error(name, rm):
    spec = load_spec(name)
    with served(name, rm) as (emulator, inst):
        inst.write("FLEXbench:UNDEFined 1")
        expected = {"SCPI": -113, "SCPI-unsigned": 113, "ESR": 32}[spec.manual.errors]  # ESR: command error bit
        assert error_number(inst.query(error_query(emulator))) == expected


# -- the generic handler, on the Chroma 61845 ------------------------------------------------------


@pytest.fixture
def chroma():
    emulator = EMULATORS["chroma-61845"]()
    assert isinstance(emulator, ScpiEmulator)
    return emulator


def test_a_spec_setting_is_checked_kept_and_reset(chroma):
    assert chroma.handle_message("CURR:LIM?") == "0"
    chroma.handle_message("SOUR:CURR:LIM 12.5")
    assert chroma.handle_message("CURR:LIM?") == "12.5"
    assert chroma.handle_message("CURR:LIM? MAX") == "200"
    chroma.handle_message("SOURCE:CURRENT:LIMIT 1e6")
    chroma.handle_message("CURR:LIM twelve")
    chroma.handle_message("CURR:LIM")
    chroma.handle_message("CURR:LIM 1,2")
    assert [e.split(",")[0] for e in chroma.errors()] == ["-222", "-104", "-109", "-108"]
    assert chroma.handle_message("CURR:LIM?") == "12.5"
    chroma.handle_message("*RST")
    assert chroma.handle_message("CURR:LIM?") == "0"


def test_a_query_of_a_hand_written_setting_reads_what_was_set(chroma):
    chroma.handle_message("LIST:COUN 7;BASE CYCL")
    assert chroma.handle_message("LIST:COUN?;:LIST:BASE?") == "7;CYCL"
    assert chroma.errors() == []


def test_units_and_sequences_are_read_as_scpi_does(chroma):
    chroma.handle_message("SOUR:CURR:LIM 1500mA")
    assert chroma.handle_message("SOUR:CURR:LIM?") == "1.5"
    chroma.handle_message("SOUR:CURR:LIM 3 V")
    assert [e.split(",")[0] for e in chroma.errors()] == ["-104"]


def test_event_status_register_records_error_classes_and_clears_on_read(chroma):
    assert chroma.handle_message("*ESR?") == "0"
    chroma.handle_message("FLEX:UNKN")  # command error
    chroma.handle_message("SOUR:CURR:LIM 1e9")  # execution error
    chroma.handle_message("*OPC")
    assert chroma.handle_message("*ESR?") == str(32 + 16 + 1)
    assert chroma.handle_message("*ESR?") == "0"
    chroma.handle_message("*ESE 32;*SRE 32")
    chroma.handle_message("FLEX:UNKN")
    assert chroma.handle_message("*STB?") == str(4 + 32 + 64)
    chroma.handle_message("*CLS")
    assert chroma.handle_message("*STB?") == "0"
    assert chroma.handle_message("*ESE?;*SRE?;*TST?;*OPC?") == "32;32;0;1"


def test_a_failing_instrument_refuses_spec_commands_too(chroma):
    chroma.failing = True
    chroma.handle_message("SOUR:CURR:LIM 2")
    assert chroma.errors() == ['-240,"Hardware error"']


# -- check_log -----------------------------------------------------------------------------------------


def test_check_log_names_what_the_spec_lacks():
    spec = load_spec("chroma-61845")
    log = ["*CLS", "INST:COUP NONE;NSEL 2;:VOLT:AC 120", "OUTP:RELAY ON", "VOLT:AC 999", "FLEX:UNKN", "OUTP:REL? 1"]
    assert check_log(spec, log) == ["VOLT:AC 999", "FLEX:UNKN", "OUTP:REL? 1"]


# -- the loader ----------------------------------------------------------------------------------------

GOOD = """
[manual]
title = "T"
revision = "1"
source = "s"
errors = "SCPI"

[[command]]
header = "VOLTage"
kind = "setting"
params = [{ name = "v", type = "number", min = 0, max = 10 }]
section = "1"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('type = "number"', 'type = "float"'),
            r"x\.toml:8: \[\[command\]\] 1 \(VOLTage\) params\[0\] \(v\): key 'type'",
        ),
        (('section = "1"', 'sektion = "1"'), r"x\.toml:8: .* unknown key 'sektion'"),
        (('section = "1"', ""), r"key 'section'"),
        (('errors = "SCPI"', 'errors = "ZES"'), r"x\.toml: \[manual\]: key 'errors'"),
        (('kind = "setting"', 'kind = "set"'), r"x\.toml:8: .* key 'kind'"),
        (('header = "VOLTage"', 'header = "VOLTage?"'), r"key 'header'"),
        (("max = 10 }]", "max = 10 }]\ndefault = 11"), r"key 'default'"),
        (('title = "T"', 'title = "T'), r"x\.toml: .*line 3"),
    ],
)
def test_a_bad_spec_file_is_named_with_line_and_key(tmp_path: Path, change, message):
    path = tmp_path / "x.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SpecError, match=message):
        load_spec_file(path)


def test_a_good_spec_file_loads_and_an_unknown_name_is_refused(tmp_path: Path):
    path = tmp_path / "x.toml"
    path.write_text(GOOD)
    spec = load_spec_file(path)
    assert spec.find("VOLT?") is not None and spec.find("VOLT:AC") is None
    with pytest.raises(SpecError, match="no command specification named 'nonesuch'"):
        load_spec("nonesuch")


def test_emulator_port_is_chosen_at_run_time(chroma):
    chroma.start()
    try:
        with socket.create_connection(("127.0.0.1", chroma.port), timeout=2):
            pass
    finally:
        chroma.stop()
