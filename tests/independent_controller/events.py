"""The 2030.5 event rules the controller follows: which control is in force, which Responses are due.

Pure functions of the controls last read from the server and the time, so a
controller that has lost its server keeps running its cached schedule and,
once no control covers the time, falls back to the DefaultDERControl (CSIP-AUS).

- in each program, of the controls whose interval covers now, the newest
  (creationTime, then start) is in force: it supersedes the older ones;
- across programs, the lower primacy number wins, element by element
  (an export limit from one program, an import limit from another);
- cancelled controls (EventStatus 2 or 3) are never in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECEIVED, STARTED, COMPLETED, CANCELLED, SUPERSEDED = 1, 2, 3, 6, 7
CANCELLED_STATUSES = (2, 3)
RESPOND_RECEIVED = 0x01  # responseRequired bit: message received
RESPOND_SPECIFIC = 0x02  # responseRequired bit: event started, completed, cancelled, superseded


@dataclass(frozen=True)
class Limits:
    export_w: float | None = None
    import_w: float | None = None


@dataclass(frozen=True)
class Control:
    mrid: str
    program: str  # the DERProgram's href
    primacy: int
    created_s: int
    start_s: int
    duration_s: int
    status: int  # EventStatus currentStatus
    limits: Limits
    reply_to: str | None = None
    response_required: int = 0

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s

    def covers(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s and self.status not in CANCELLED_STATUSES


@dataclass(frozen=True)
class Default:
    program: str
    primacy: int
    limits: Limits


def in_force(controls: list[Control], now_s: float, keep_superseded: bool = False) -> list[Control]:
    """One control per program covering now, lowest primacy first.

    keep_superseded (a faulty controller): the oldest control stays in force, as if no newer one came.
    """
    chosen: dict[str, Control] = {}
    for c in controls:
        if not c.covers(now_s):
            continue
        held = chosen.get(c.program)
        newer = held is None or (c.created_s, c.start_s, c.mrid) > (held.created_s, held.start_s, held.mrid)
        if held is None or newer != keep_superseded:
            chosen[c.program] = c
    return sorted(chosen.values(), key=lambda c: c.primacy)


def superseded(controls: list[Control], now_s: float, winners: list[Control]) -> list[Control]:
    """Controls covering now that a newer one of their program replaced."""
    by_program = {w.program: w for w in winners}
    return [
        c
        for c in controls
        if c.covers(now_s)
        and c.program in by_program
        and c is not by_program[c.program]
        and c.created_s <= by_program[c.program].created_s
    ]


def limits_now(winners: list[Control], defaults: list[Default], firm: Limits) -> Limits:
    """Each element from the highest-priority control that sets it, else the defaults, else the firm limits."""

    def pick(element: str) -> float | None:
        for source in [*winners, *sorted(defaults, key=lambda d: d.primacy)]:
            value = getattr(source.limits, element)
            if value is not None:
                return value
        return getattr(firm, element)

    return Limits(export_w=pick("export_w"), import_w=pick("import_w"))


@dataclass
class ResponseBook:
    """Which Responses were posted, so each is posted once and in order (1, then 2, then 3, 6 or 7)."""

    posted: set[tuple[str, int]] = field(default_factory=set)
    started: dict[str, Control] = field(default_factory=dict)  # controls that took effect and have not ended

    def due(
        self, controls: list[Control], now_s: float, winners: list[Control], replaced: list[Control]
    ) -> list[tuple[Control, int]]:
        """The Responses to post now, in order; a failed post is due again next time."""
        out: list[tuple[Control, int]] = []

        def add(c: Control, status: int, bit: int) -> None:
            if c.reply_to and c.response_required & bit and (c.mrid, status) not in self.posted:
                out.append((c, status))

        for c in controls:
            add(c, RECEIVED, RESPOND_RECEIVED)
            if c.status in CANCELLED_STATUSES:
                add(c, CANCELLED, RESPOND_SPECIFIC)
        for c in winners:
            add(c, STARTED, RESPOND_SPECIFIC)
            self.started.setdefault(c.mrid, c)
        for c in replaced:
            if c.mrid in self.started:
                add(c, SUPERSEDED, RESPOND_SPECIFIC)
        for c in list(self.started.values()):
            if now_s >= c.end_s:
                add(c, COMPLETED, RESPOND_SPECIFIC)
        return out

    def mark(self, control: Control, status: int) -> None:
        """A Response the server took."""
        self.posted.add((control.mrid, status))
        if status in (COMPLETED, CANCELLED, SUPERSEDED):
            self.started.pop(control.mrid, None)
