"""Parameters of spec commands: reading them off the wire as the instrument would, and formatting replies.

A bad parameter raises BadParameter with the SCPI error the instrument
queues: 104 Data type error, 108 Parameter not allowed, 109 Missing
parameter, 222 Data out of range, 224 Illegal parameter value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .headers import mnemonic_regex, split_outside

PARAM_TYPES = ("bool", "number", "int", "choice", "string", "channels")
REPLY_TYPES = ("number", "int", "bool", "choice", "string", "numbers")

_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%]*)$")
_SI_PREFIX = {"": 1.0, "K": 1e3, "M": 1e-3, "U": 1e-6, "MA": 1e6}  # SCPI: M is milli, MA mega
_CHANNELS = re.compile(r"^\(@\s*(\d+(?:\s*[:,]\s*\d+)*)\s*\)$")


class BadParameter(Exception):
    """A parameter the instrument refuses, with the SCPI error number it queues."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(code)


def split_params(args: str) -> list[str]:
    """Comma-separated parameters, keeping commas inside quotes and channel lists '(@1,2)'."""
    return split_outside(args, ",") if args.strip() else []


def _choice_reply(value: str) -> str:
    """What an instrument answers for a character value: its short form ('INDEpendent' -> 'INDE')."""
    short = ""
    for ch in value:
        if ch.islower():
            break
        short += ch
    return short or value.upper()


@dataclass(frozen=True)
class Param:
    """One parameter: its type, range (number, int, channels), unit, accepted values (choice)."""

    name: str
    type: str
    min: float | None = None
    max: float | None = None
    unit: str = ""
    values: tuple[str, ...] = ()
    optional: bool = False
    repeat: bool = False  # the last parameter may repeat: a list of points ('LIST:DWEL 10,20,30')
    _choices: tuple[tuple[re.Pattern[str], str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.type == "choice":
            compiled = tuple(
                (re.compile(f"^{mnemonic_regex(v)}$", re.IGNORECASE), _choice_reply(v)) for v in self.values
            )
            object.__setattr__(self, "_choices", compiled)

    def parse(self, token: str) -> Any:
        """The value of one parameter token, or BadParameter."""
        text = token.strip()
        if not text:
            raise BadParameter(109)
        if self.type in ("number", "int"):
            return self._number(text)
        if self.type == "bool":
            upper = text.upper()
            if upper in ("ON", "1"):
                return True
            if upper in ("OFF", "0"):
                return False
            raise BadParameter(224)
        if self.type == "choice":
            for regex, reply in self._choices:
                if regex.match(text):
                    return reply
            raise BadParameter(224)
        if self.type == "channels":
            match = _CHANNELS.match(text)
            if match is None:
                raise BadParameter(104)
            for number in re.split(r"[:,]", match.group(1)):
                self._in_range(float(number))
            return text
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        return text

    def _number(self, text: str) -> float | int:
        upper = text.upper()
        if upper in ("MIN", "MINIMUM", "MAX", "MAXIMUM"):
            bound = self.min if upper.startswith("MIN") else self.max
            if bound is None:
                raise BadParameter(224)
            value = float(bound)
        else:
            match = _NUMBER.match(text)
            if match is None:
                raise BadParameter(104)
            value = float(match.group(1)) * self._unit_scale(match.group(2).upper())
        if not math.isfinite(value):
            raise BadParameter(104)
        if self.type == "int":
            if not value.is_integer():
                raise BadParameter(104)
            return int(self._in_range(value))
        return self._in_range(value)

    def _unit_scale(self, suffix: str) -> float:
        if not suffix:
            return 1.0
        unit = self.unit.upper()
        if unit and suffix.endswith(unit) and suffix[: len(suffix) - len(unit)] in _SI_PREFIX:
            return _SI_PREFIX[suffix[: len(suffix) - len(unit)]]
        raise BadParameter(104)

    def _in_range(self, value: float) -> float:
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise BadParameter(222)
        return value

    def initial(self) -> Any:
        """The value a query reports before anything was set and the spec names no default."""
        if self.type in ("number", "int"):
            low = self.min if self.min is not None else 0.0
            high = self.max if self.max is not None else 0.0
            return min(max(0.0, low), high) if high >= low else low
        if self.type == "bool":
            return False
        if self.type == "choice":
            return _choice_reply(self.values[0])
        return ""

    def example(self) -> str:
        """A valid value on the wire: a number inside the range, the last choice, a channel, a string."""
        if self.type in ("number", "int"):
            low = self.min if self.min is not None else 0.0
            high = self.max if self.max is not None else low + 2.0
            value = low + (high - low) / 2 if self.type == "number" else math.floor(low + (high - low) / 2)
            return format_number(value)
        if self.type == "bool":
            return "ON"
        if self.type == "choice":
            return self.values[-1].upper()
        if self.type == "channels":
            return f"(@{int(self.min if self.min is not None else 1)})"
        return '"flexbench"'

    def format(self, value: Any) -> str:
        """The value as a query replies it."""
        return format_value(self.type, value)


def format_value(kind: str, value: Any) -> str:
    """A reply of a parameter or reply type."""
    if kind == "bool":
        return "1" if value else "0"
    if kind == "int":
        return str(int(value))
    if kind in ("number", "numbers"):
        values = value if isinstance(value, list | tuple) else [value]
        return ",".join(format_number(float(v)) for v in values)
    if kind == "string":
        return f'"{value}"'
    return str(value)


def format_number(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return format(value, ".9g")


def parse_params(params: tuple[Param, ...], args: str) -> list[Any]:
    """The values of a command's parameters, as the instrument reads them, or BadParameter."""
    tokens = split_params(args)
    repeat = bool(params) and params[-1].repeat
    if len(tokens) > len(params) and not repeat:
        raise BadParameter(108)
    values = []
    for i, param in enumerate(params):
        if i >= len(tokens):
            if not param.optional:
                raise BadParameter(109)
            break
        values.append(param.parse(tokens[i]))
    for token in tokens[len(params) :]:
        values.append(params[-1].parse(token))
    return values
