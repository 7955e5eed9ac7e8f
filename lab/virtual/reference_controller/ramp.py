"""A utility limit on its way to a new value over the control's ramp time (2030.5 rampTms).

A DERControl may say how long the site may take to reach its limit. The
controller moves the limit it holds linearly over that time: from the limit in
force, or, where none was, from the site's present flow on that side (a flow
already within the new limit needs no ramp). A new limit with no ramp time, or
no limit at all, applies at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LimitRamp:
    target_w: float | None = None
    start_w: float | None = None
    t0_s: float = 0.0
    ramp_s: float = 0.0

    def at(self, t_s: float) -> float | None:
        """The limit held at t_s."""
        if self.start_w is None or self.target_w is None or self.ramp_s <= 0:
            return self.target_w
        done = min(max((t_s - self.t0_s) / self.ramp_s, 0.0), 1.0)
        return self.start_w + (self.target_w - self.start_w) * done

    def move(self, target_w: float | None, t_s: float, ramp_s: float | None, flow_w: float | None) -> float | None:
        """Take `target_w` (a change starts a ramp from where the limit is now) and return the limit held at t_s."""
        if target_w != self.target_w:
            held = self.at(t_s)
            if held is None and flow_w is not None and target_w is not None and flow_w > target_w:
                held = flow_w
            self.start_w, self.target_w, self.t0_s, self.ramp_s = held, target_w, t_s, ramp_s or 0.0
        return self.at(t_s)
