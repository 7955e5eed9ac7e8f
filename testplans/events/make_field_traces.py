"""Make the synthetic reference field traces of the shipped events (the CSV beside each event file).

There are no public field recordings of these events, so the traces are made
here, reproducibly: the event's own timeline drives the feeder twin (PCC
voltage, the envelope after a switching operation) and a plausible model of
the field site's devices, and the result is sampled like a revenue meter
(1 s averages) with Gaussian measurement noise from a fixed seed. Running the
script again writes the same files.

The field site model (field W, import positive):

- uncontrolled: building load, EV demand and PV available (the PV follows the
  irradiance through a first-order lag, the array and MPPT settling);
- the site controller sees an operator signal `latency_s` after it is sent
  (its 2030.5 client's next poll), then every `control_period_s` computes
  how much to move: for a maximum import it sheds EV charging first, then
  discharges the battery; for an export limit it charges the battery, then
  curtails PV; it aims `margin_w` inside each limit;
- actuators: EV chargers change at most `ev_ramp_w_per_s` (chargers managed
  over OCPP are slow), battery and PV setpoints settle with first-order lags.

    .venv/bin/python testplans/events/make_field_traces.py           # every event here
    .venv/bin/python testplans/events/make_field_traces.py NAME.toml # one
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.lab.replay.event import ReplayEvent, read_replay_event
from flexbench.twin.event_twin import state_at, twin_states

HERE = Path(__file__).resolve().parent
DT_S = 0.05  # simulation step


@dataclass(frozen=True)
class SiteModel:
    """Field device behaviour of one event's site."""

    seed: int
    latency_s: float = 8.0  # signal sent -> seen by the site controller
    control_period_s: float = 1.0
    margin_w: float = 2000.0  # the controller aims this far inside a limit
    ev_ramp_w_per_s: float = 3000.0
    battery_rating_w: float = 0.0
    battery_tau_s: float = 1.5
    pv_tau_s: float = 1.0  # PV output behind the irradiance
    curtail_tau_s: float = 1.5  # PV curtailment setpoint response
    noise_w: float = 600.0  # meter noise (1 sigma)
    noise_v_pu: float = 0.0008
    voltage_tau_s: float = 2.0  # PCC voltage settling after a change (regulators, other loads)
    end_s: float = 200.0  # length of the record


MODELS: dict[str, SiteModel] = {
    "abnormal-import": SiteModel(
        seed=101, latency_s=9.0, ev_ramp_w_per_s=3000.0, battery_rating_w=60000.0, end_s=220.0
    ),
    "ieee123-switching": SiteModel(
        seed=202, latency_s=4.0, battery_rating_w=0.0, curtail_tau_s=2.0, noise_w=1500.0, end_s=180.0
    ),
    "pv-cloud-transient": SiteModel(
        seed=303, latency_s=4.0, battery_rating_w=0.0, curtail_tau_s=1.2, noise_w=800.0, end_s=120.0
    ),
}


def signals(replay: ReplayEvent, states) -> list[tuple[float, str, float | None, float | None]]:
    """(time seen by the site, kind, import limit, export limit) of each operator signal, field W."""
    out = []
    for e in replay.event.timeline:
        v = e.values
        if e.action == "site_limits":
            out.append((e.t_s, "envelope", v.get("import_limit_w"), v.get("export_limit_w")))
        elif e.action == "envelope":
            state = state_at(states, e.t_s)
            sent = replay.mapping.envelope(state.import_limit_w, state.export_limit_w)
            out.append((e.t_s, "envelope", sent.import_limit_w, sent.export_limit_w))
        elif e.action == "abnormal_import":
            out.append((e.t_s, "abnormal", v["max_import_w"], None))
        elif e.action == "cancel":
            out.append((e.t_s, "cancel-" + v["target"], None, None))
    return out


def simulate(replay: ReplayEvent, model: SiteModel) -> pd.DataFrame:
    states = twin_states(replay.event)
    site = replay.event.site
    sent = signals(replay, states)
    rng = np.random.default_rng(model.seed)
    n = int(round(model.end_s / DT_S)) + 1
    t = np.arange(n) * DT_S
    pcc = np.zeros(n)
    vpu = np.zeros(n)
    in_force: dict[str, tuple[float | None, float | None]] = {}
    pending = list(sent)
    first = states[0]
    pv = first.site_pv_w
    ev = site.ev_w
    battery = 0.0
    curtail = math.inf  # PV setpoint
    v_now = first.pcc_voltage_pu
    ev_cmd, battery_cmd, curtail_target = ev, 0.0, math.inf
    next_control = 0.0
    for k, tk in enumerate(t):
        while pending and pending[0][0] + model.latency_s <= tk:
            _, kind, imp, exp = pending.pop(0)
            if kind.startswith("cancel-"):
                target = kind.removeprefix("cancel-")
                for key in list(in_force):
                    if target == "all" or key == target or (target == "limits" and key == "envelope"):
                        in_force.pop(key)
            else:
                in_force[kind] = (imp, exp)
        state = state_at(states, tk)
        a = 1.0 - math.exp(-DT_S / model.pv_tau_s)
        pv += (state.site_pv_w - pv) * a
        v_now += (state.pcc_voltage_pu - v_now) * (1.0 - math.exp(-DT_S / model.voltage_tau_s))
        load = state.site_load_w
        if tk >= next_control:
            next_control = tk + model.control_period_s
            imports = [i for i, _ in in_force.values() if i is not None]
            exports = [e for _, e in in_force.values() if e is not None]
            imp_limit = min(imports) - model.margin_w if imports else math.inf
            exp_limit = min(exports) - model.margin_w if exports else math.inf
            uncontrolled = load + site.ev_w - pv - site.battery_w
            ev_cmd, battery_cmd, curtail_cmd = site.ev_w, 0.0, math.inf
            if uncontrolled > imp_limit:
                excess = uncontrolled - imp_limit
                shed = min(excess, site.ev_w)
                ev_cmd = site.ev_w - shed
                battery_cmd = min(excess - shed, model.battery_rating_w)
            elif uncontrolled < -exp_limit:
                excess = -exp_limit - uncontrolled
                charge = min(excess, model.battery_rating_w)
                battery_cmd = -charge
                curtail_cmd = max(pv - (excess - charge), 0.0)
            curtail_target = curtail_cmd
        step = model.ev_ramp_w_per_s * DT_S
        ev += max(-step, min(step, ev_cmd - ev))
        battery += (battery_cmd - battery) * (1.0 - math.exp(-DT_S / model.battery_tau_s))
        if math.isinf(curtail_target):
            curtail = math.inf
        else:
            start = pv if math.isinf(curtail) else curtail
            curtail = start + (curtail_target - start) * (1.0 - math.exp(-DT_S / model.curtail_tau_s))
        pv_out = min(pv, curtail)
        pcc[k] = load + ev - pv_out - battery - site.battery_w
        vpu[k] = v_now
    # a meter: 1 s averages, then measurement noise
    per = int(round(1.0 / DT_S))
    seconds = np.arange(0, int(model.end_s) + 1)
    p_avg = np.array([pcc[max(0, s * per - per + 1) : s * per + 1].mean() for s in seconds])
    v_avg = np.array([vpu[max(0, s * per - per + 1) : s * per + 1].mean() for s in seconds])
    return pd.DataFrame(
        {
            "time_s": seconds.astype(float),
            "pcc_p_w": np.round(p_avg + rng.normal(0.0, model.noise_w, len(seconds)), 1),
            "pcc_v_pu": np.round(v_avg + rng.normal(0.0, model.noise_v_pu, len(seconds)), 5),
        }
    )


def make(path: Path) -> Path:
    replay = read_replay_event(path, with_field=False)
    model = MODELS[path.stem]
    frame = simulate(replay, model)
    out = replay.event.field_path
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(f"# synthetic reference trace made by make_field_traces.py (seed {model.seed}); not a recording\n")
        frame.to_csv(fh, index=False)
    return out


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(HERE.glob("*.toml"))
    for path in paths:
        print(f"{path.name} -> {make(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
