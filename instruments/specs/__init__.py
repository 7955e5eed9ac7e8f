"""Command specifications of instrument models, as data read from their programming manuals.

One TOML file per model, named after the driver's registry name
(``chroma-61845.toml``): the manual it was read from, and every command
with its header pattern, kind, parameters, reply format, value after *RST
and the manual's section. The file format::

    include = ["common/ieee-488.2"]  # optional: commands many models share, from specs/common/
    [manual]
    title = "..."                # the manual's own title
    revision = "..."             # as printed; "unknown" if not known
    source = "..."               # where the text was read, or which hardware-proven driver the forms come from
    errors = "SCPI"              # error queue format: "SCPI" (-113,"Undefined header") or "SCPI-unsigned" (113,...),
                                 # or "ESR": no queue, errors set *ESR? bits (32 command, 16 execution error)

    [[command]]
    header = "OUTPut[:STATe]"    # long form, short form in capitals, [optional] nodes, '#' suffix, no '?'
    kind = "setting"             # setting (command and its query) | command (no query) | query (query only)
    params = [{ name = "state", type = "bool" }]
    reply = "bool"               # queries: number | int | bool | choice | string | numbers
    default = 0                  # value after *RST (settings), or the reply (queries)
    section = "3.7.2"            # the manual's section or page
    note = "..."                 # optional remark

Parameter types: bool, number (min, max, unit), int (min, max), choice
(values, written as mnemonics: "INDEpendent" accepts INDE and INDEPENDENT),
string, channels ('(@1,2)', min and max bound the channel numbers); a
parameter may be `optional` (trailing ones only) and the last may `repeat`
(a list of points). A channels parameter last addresses the command to
outputs: it follows the values (``LIST:DWEL 2,3,5,(@1)``, so the value
before it may repeat), a query of the setting takes it alone
(``CURR:SAS:ISC? (@1)``) and an emulator keeps the setting per channel list. Emulators serve the commands they do not implement by
hand from the spec (scpi_server.ScpiEmulator.spec_name); driver tests call
check_log() so a driver cannot send what the manual does not have.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .headers import compile_header, resolve, split_units
from .params import PARAM_TYPES, REPLY_TYPES, BadParameter, Param, format_value, parse_params, split_params

__all__ = [
    "ERROR_FORMATS",
    "BadParameter",
    "Command",
    "Manual",
    "Param",
    "Spec",
    "SpecError",
    "SpecMatch",
    "check_log",
    "load_spec",
    "load_spec_file",
    "model_spec_names",
]

ERROR_FORMATS = {"SCPI": True, "SCPI-unsigned": False, "ESR": False}  # name -> error numbers queued negative
KINDS = ("setting", "command", "query")
_COMMAND_KEYS = {"header", "kind", "params", "reply", "default", "section", "note"}
_PARAM_KEYS = {"name", "type", "min", "max", "unit", "values", "optional", "repeat"}
_MANUAL_KEYS = {"title", "revision", "source", "errors"}
_TOP_KEYS = {"include", "manual", "command"}
SPEC_PACKAGE = __name__


class SpecError(ValueError):
    """A spec file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class Manual:
    """The manual a spec was read from."""

    title: str
    revision: str
    source: str
    errors: str

    @property
    def negative_errors(self) -> bool:
        """Whether the error queue reports SCPI's negative numbers (-113) rather than unsigned ones."""
        return ERROR_FORMATS[self.errors]


@dataclass(frozen=True)
class Command:
    """One command of a model: header pattern, kind, parameters, reply, value after *RST, manual section."""

    header: str
    kind: str
    params: tuple[Param, ...]
    reply: str
    default: Any
    section: str
    note: str = ""
    regex: re.Pattern[str] = field(default=re.compile(""), compare=False, repr=False)

    @property
    def channels(self) -> Param | None:
        """The trailing channel-list parameter of a command addressed to outputs, if it has one."""
        last = self.params[-1] if self.params else None
        return last if last is not None and last.type == "channels" else None

    @property
    def values(self) -> tuple[Param, ...]:
        """The parameters that carry values: all but a trailing channel list."""
        return self.params[:-1] if self.channels is not None else self.params

    def channel_list(self, args: str) -> str:
        """The channel list that ends `args` ('' for none, or for a command not addressed to outputs)."""
        tokens = split_params(args)
        if self.channels is None or not tokens or not tokens[-1].strip().startswith("(@"):
            return ""
        return re.sub(r"\s+", "", tokens[-1])

    def parse(self, args: str, query: bool) -> list[Any]:
        """The values of one use of this command (without its channel list, which is checked), or
        BadParameter (a query of a setting takes no value but MIN or MAX)."""
        channel = self.channel_list(args)
        if self.channels is not None:
            if channel:
                self.channels.parse(channel)
                args = ",".join(split_params(args)[:-1])
            elif not self.channels.optional:
                raise BadParameter(109)
        if query and self.kind == "setting":
            token = args.strip().upper()
            if not token:
                return []
            first = self.values[0] if self.values else None
            if first is not None and first.type in ("number", "int") and token in ("MIN", "MINIMUM", "MAX", "MAXIMUM"):
                return [first.parse(token)]
            raise BadParameter(108)
        return parse_params(self.values, args)

    def example(self) -> str:
        """Parameters of a valid use of the command (what a test sends where the manual allows it)."""
        return ",".join(p.example() for p in self.params if not p.optional)

    def query_example(self) -> str:
        """The parameters of a valid query of a setting: its channel list where one is required."""
        channels = self.channels
        return channels.example() if channels is not None and not channels.optional else ""

    def reply_text(self, values: list[Any] | None) -> str:
        """A query's reply: a setting's stored values (or its default), or a query's default."""
        params = self.values
        if self.kind == "setting" and params:
            if values is None:
                values = self.default
            return ",".join(params[min(i, len(params) - 1)].format(v) for i, v in enumerate(values))
        return format_value(self.reply, self.default)


@dataclass(frozen=True)
class SpecMatch:
    """A header found in a spec: the command, whether it was the query form, its numeric suffixes."""

    command: Command
    query: bool
    suffixes: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    """A model's commands as its programming manual defines them."""

    name: str
    path: str
    manual: Manual
    commands: tuple[Command, ...]
    _cache: dict[str, SpecMatch | None] = field(default_factory=dict, compare=False, repr=False)

    def find(self, header: str) -> SpecMatch | None:
        """The command a header (without parameters, '?' for a query) names, in a form the command has."""
        key = header.upper()
        if key in self._cache:
            return self._cache[key]
        query = key.endswith("?")
        bare = key[:-1] if query else key
        found = None
        for command in self.commands:
            match = command.regex.match(bare)
            if match is None:
                continue
            if (query and command.kind == "command") or (not query and command.kind == "query"):
                continue
            found = SpecMatch(command, query, tuple(match.groups()))
            break
        self._cache[key] = found
        return found


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _table(raw: Any, where: str, known: set[str], what: str) -> dict[str, Any]:
    """`raw` as a table of known keys, or SpecError."""
    if not isinstance(raw, dict):
        raise _fail(where, f"{what} must be a table")
    unknown = set(raw) - known
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(known))})")
    return raw


def _param(raw: Any, where: str) -> Param:
    raw = _table(raw, where, _PARAM_KEYS, "a parameter, { name = ..., type = ... },")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "key 'name' must be a non-empty string")
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        raise _fail(f"{where} ({name})", f"key 'type' must be one of {', '.join(PARAM_TYPES)}, got {kind!r}")
    for key in ("min", "max"):
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], int | float)):
            raise _fail(f"{where} ({name})", f"key {key!r} must be a number")
    values = raw.get("values", [])
    if kind == "choice" and (not values or not all(isinstance(v, str) and v for v in values)):
        raise _fail(f"{where} ({name})", "key 'values' must list the accepted values of a choice")
    for key in ("optional", "repeat"):
        if not isinstance(raw.get(key, False), bool):
            raise _fail(f"{where} ({name})", f"key {key!r} must be true or false")
    return Param(
        name=name,
        type=kind,
        min=raw.get("min"),
        max=raw.get("max"),
        unit=str(raw.get("unit", "")),
        values=tuple(values),
        optional=raw.get("optional", False),
        repeat=raw.get("repeat", False),
    )


def _default(raw: Any, kind: str, params: tuple[Param, ...], reply: str, where: str) -> Any:
    if kind == "command":
        if raw is not None:
            raise _fail(where, "key 'default': a command without a query form has no value")
        return None
    if kind == "query" or not params:
        if raw is None:
            if reply == "choice":
                raise _fail(where, "key 'default': a query replying a choice needs the reply it gives")
            return "" if reply == "string" else 0
        return raw
    if params and params[-1].type == "channels":
        params = params[:-1]  # a setting is kept per channel list: its default is the values'
    if raw is None:
        return [p.initial() for p in params if not p.optional]
    items = raw if isinstance(raw, list) else [raw]
    try:
        return parse_params(params, ",".join(_wire(v) for v in items))
    except BadParameter as exc:
        raise _fail(where, f"key 'default': {items!r} is not a value of the parameters (error {exc.code})") from None


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _command(raw: Any, where: str) -> Command:
    raw = _table(raw, where, _COMMAND_KEYS, "a [[command]]")
    header = raw.get("header")
    if not isinstance(header, str) or not header.strip() or header.endswith("?"):
        raise _fail(where, "key 'header' must be a header pattern without the query's '?'")
    where = f"{where} ({header})"
    try:
        regex = compile_header(header)
    except (ValueError, re.error) as exc:
        raise _fail(where, f"key 'header' is not a header pattern: {exc}") from None
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _fail(where, f"key 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    raw_params = raw.get("params", [])
    if not isinstance(raw_params, list):
        raise _fail(where, "key 'params' must be a list of tables")
    params = tuple(_param(p, f"{where} params[{i}]") for i, p in enumerate(raw_params))
    valued = params[:-1] if params and params[-1].type == "channels" else params
    if any(p.repeat for p in valued[:-1]) or (valued != params and params[-1].repeat):
        raise _fail(where, "key 'params': only the last parameter (before a channel list) may repeat")
    if any(a.optional and not b.optional for a, b in zip(params, params[1:])):
        raise _fail(where, "key 'params': optional parameters come last")
    reply = raw.get("reply", "")
    if kind == "setting" and not params and reply not in REPLY_TYPES:
        raise _fail(where, "key 'reply': a setting without parameters (like *OPC) needs its query's reply type")
    if kind == "query" and reply not in REPLY_TYPES:
        raise _fail(where, f"key 'reply' must be one of {', '.join(REPLY_TYPES)}, got {reply!r}")
    if kind == "command" and reply:
        raise _fail(where, "key 'reply': a command without a query form has no reply")
    if kind == "setting" and reply and reply not in REPLY_TYPES:
        raise _fail(where, f"key 'reply' must be one of {', '.join(REPLY_TYPES)}, got {reply!r}")
    section = raw.get("section")
    if not isinstance(section, str):
        raise _fail(where, "key 'section' must name the manual's section or page")
    default = _default(raw.get("default"), kind, params, reply, where)
    return Command(header, kind, params, reply, default, section, str(raw.get("note", "")), regex)


def _command_lines(text: str) -> list[int]:
    """Line number of each [[command]] table, for messages."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[command]]")]


def _read(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _manual(raw: Any, path: str) -> Manual:
    raw = _table(raw, f"{path}: [manual]", _MANUAL_KEYS, "[manual] (title, revision, source, errors)")
    for key in ("title", "revision", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, f"[manual]: key {key!r} must be a non-empty string")
    if raw.get("errors") not in ERROR_FORMATS:
        raise _fail(
            path, f"[manual]: key 'errors' must be one of {', '.join(ERROR_FORMATS)}, got {raw.get('errors')!r}"
        )
    return Manual(raw["title"], raw["revision"], raw["source"], raw["errors"])


def _parse_spec(text: str, path: str, name: str, seen: tuple[str, ...] = ()) -> Spec:
    data = _table(_read(text, path), path, _TOP_KEYS, "a spec")
    manual = _manual(data.get("manual"), path)
    lines = _command_lines(text)
    raw_commands = data.get("command", [])
    if not isinstance(raw_commands, list):
        raise _fail(path, "key 'command' must be [[command]] tables")
    commands = [
        _command(raw, f"{path}:{lines[i] if i < len(lines) else '?'}: [[command]] {i + 1}")
        for i, raw in enumerate(raw_commands)
    ]
    includes = data.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(n, str) for n in includes):
        raise _fail(path, "key 'include' must list spec names")
    for included in includes:
        if included in seen + (name,):
            raise _fail(path, f"key 'include': {included!r} includes itself")
        try:
            commands += _load(included, seen + (name,)).commands
        except FileNotFoundError:
            raise _fail(path, f"key 'include': no spec named {included!r}") from None
    headers: dict[str, str] = {}
    for command in commands:
        key = command.header.upper().lstrip(":")
        if key in headers:
            raise _fail(path, f"header {command.header!r} is defined twice")
        headers[key] = command.header
    return Spec(name, path, manual, tuple(commands))


def load_spec_file(path: str | Path) -> Spec:
    """A spec from a file (SpecError names file, line and key of what is wrong)."""
    file = Path(path)
    return _parse_spec(file.read_text(encoding="utf-8"), str(file), file.stem)


def _load(name: str, seen: tuple[str, ...]) -> Spec:
    resource = resources.files(SPEC_PACKAGE) / f"{name}.toml"
    if not resource.is_file():
        raise FileNotFoundError(name)
    return _parse_spec(resource.read_text(encoding="utf-8"), str(resource), name, seen)


@functools.cache
def load_spec(name: str) -> Spec:
    """The spec of a model by its driver's registry name (e.g. "chroma-61845")."""
    try:
        return _load(name, ())
    except FileNotFoundError:
        raise SpecError(f"no command specification named {name!r} in {SPEC_PACKAGE}") from None


def model_spec_names() -> list[str]:
    """Names of the spec files of instrument models (the shared ones in common/ are left out)."""
    return sorted(p.name[:-5] for p in resources.files(SPEC_PACKAGE).iterdir() if p.name.endswith(".toml"))


def check_log(spec: Spec, messages: Iterable[Any]) -> list[str]:
    """The message units a client sent that the spec does not have (unknown header, missing form or bad
    parameter), in order, each once. `messages`: an emulator's command_log, or strings."""
    unknown: list[str] = []
    for message in messages:
        text = getattr(message, "command", message)
        path: list[str] = []
        for unit in split_units(text):
            unit, path = resolve(unit, path, lambda h: spec.find(h) is not None)
            header, _, args = unit.partition(" ")
            match = spec.find(header)
            try:
                if match is None:
                    raise BadParameter(113)
                match.command.parse(args, match.query)
            except BadParameter:
                if unit not in unknown:
                    unknown.append(unit)
    return unknown
