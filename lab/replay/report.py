"""The replay's run folder: results (tests.jsonl, results.json) and report.html with the overlay.

The replay is one "test" of the run, so `flexbench report RUN_DIR` rebuilds a
generic report from the folder (the field trace is in the samples, in bench
units, as `field.<column>`); report.html adds the overlay in field units, the
timeline with what the twin computed and what was sent, and the mapping.
"""

from __future__ import annotations

import io
import json
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flexbench.core import channels
from flexbench.lab.evaluate import ERROR, FAIL, PASS, Result
from flexbench.lab.recorder import load_samples
from flexbench.lab.replay.event import ReplayEvent
from flexbench.lab.replay.score import Score
from flexbench.lab.replay.steps import BenchSettings, Step
from flexbench.lab.report import STYLE, png_img, results_table_html, run_header_html
from flexbench.lab.results import RESULTS_FILE, STATION_FILE, append_test, assemble, write_json

REPORT_FILE = "report.html"
OVERLAY_FILE = "overlay.png"


def write_outputs(
    run_dir: Path,
    replay_event: ReplayEvent,
    steps: list[Step],
    result: Score | None,
    t0: float,
    aborted: str | None,
    settings: BenchSettings,
) -> dict[str, Any]:
    results = (
        result.results
        if result is not None
        else [
            Result.error(rid, "match with the field trace", aborted or "the replay did not start")
            for rid in ("REPLAY-NRMSE", "REPLAY-RT")
        ]
    )
    verdict = result.verdict if result is not None else ERROR
    event, mapping, band = replay_event.event, replay_event.mapping, replay_event.score
    replay = {
        "event": str(event.path),
        "name": event.name,
        "feeder": event.feeder,
        "site": {
            "element": event.site.element,
            "bus": event.site.bus,
            "rating_w": mapping.rating_w,
            "bench_ratio": mapping.bench_ratio,
        },
        "score": result.as_dict() if result is not None else {"verdict": ERROR},
        "pass_band": {
            "nrmse_max": band.nrmse_max,
            "response_time_tolerance_s": band.response_time_tolerance_s,
        },
        "t0_s": t0 if np.isfinite(t0) else None,
        "aborted": aborted,
        "timeline": [_step_row(replay_event, s) for s in steps],
    }
    end_s = t0 + event.duration_s if np.isfinite(t0) else None
    append_test(
        run_dir,
        {
            "nodeid": f"replay::{event.path.name}",
            "outcome": {PASS: "passed", FAIL: "failed"}.get(verdict, "error"),
            "duration_s": event.duration_s,
            "message": aborted or "",
            "requirements": [r.to_dict() for r in results],
            "evidence": _evidence(replay_event, t0, end_s) if end_s is not None else None,
            "start_s": t0 if np.isfinite(t0) else None,
            "end_s": end_s,
            "replay": replay,
        },
    )
    out = assemble(run_dir)
    if aborted:
        out["summary"]["aborted"] = aborted
    out["replay"] = replay
    write_json(run_dir / RESULTS_FILE, out)
    png = overlay_png(run_dir, replay_event, steps, t0, settings) if np.isfinite(t0) else None
    if png is not None:
        (run_dir / OVERLAY_FILE).write_bytes(png)
    (run_dir / REPORT_FILE).write_text(_html(run_dir, replay_event, out, replay, results, png), encoding="utf-8")
    return out


def _step_row(replay_event: ReplayEvent, step: Step) -> dict[str, Any]:
    tw = step.twin
    row: dict[str, Any] = {
        "t_s": step.t_s,
        "entry": step.entry.number if step.entry else 0,
        "action": step.entry.action if step.entry else "start",
        "values": dict(step.entry.values) if step.entry else {},
        "twin": {
            "pcc_voltage_pu": tw.pcc_voltage_pu,
            "import_limit_w": tw.import_limit_w,
            "export_limit_w": tw.export_limit_w,
            "binding_import": tw.binding_import,
            "binding_export": tw.binding_export,
            "switches": list(tw.switches),
        },
        "bench": {
            "load_w": step.conditions.load_w,
            "ev_w": step.conditions.ev_w,
            "pv_dc_w": step.conditions.pv_dc_w,
            "battery_w": step.conditions.battery_w,
            "voltage_v": step.conditions.voltage_v,
        },
    }
    if step.entry is not None and step.entry.action == "envelope":
        mapping = replay_event.mapping
        sent = mapping.envelope(tw.import_limit_w, tw.export_limit_w)
        imp, exp = sent.import_limit_w or 0.0, sent.export_limit_w or 0.0
        row["envelope_sent_w"] = {
            "import_limit_w": imp,
            "export_limit_w": exp,
            "nonfirm_import_w": imp - mapping.firm_import_w,
            "nonfirm_export_w": exp - mapping.firm_export_w,
        }
    if step.signal is not None:
        s = step.signal
        row["signal"] = {
            "kind": s.kind,
            **s.limits.as_dict(),
            **({"duration_s": s.duration_s} if s.duration_s else {}),
            **({"target": s.target} if s.kind == "cancel" else {}),
        }
    return row


def _evidence(replay_event: ReplayEvent, t0: float, end_s: float) -> dict[str, Any]:
    """The generic evidence plot (bench units), for `flexbench report`."""
    channel = replay_event.score.channel
    return {
        "title": f"Replay of {replay_event.event.name}: lab and field (field scaled to the bench)",
        "t_cmd_s": t0,
        "start_s": t0,
        "end_s": end_s,
        "channels": {channels.PCC_P_W: "lab PCC (analyzer)", f"{channels.FIELD}.{channel}": f"field {channel} x ratio"},
        "steps": {channels.LIMIT_PCC_MIN_W: "-export limit sent", channels.LIMIT_PCC_MAX_W: "import limit sent"},
        "xlabel": "time from the event start (s, bench time)",
    }


def overlay_png(
    run_dir: Path, replay_event: ReplayEvent, steps: list[Step], t0: float, settings: BenchSettings
) -> bytes:
    """Lab and field traces in field units, limits sent, timeline marks; PCC voltage below."""
    samples = load_samples(run_dir)
    event, band = replay_event.event, replay_event.score
    ratio = replay_event.mapping.bench_ratio
    channel = band.channel

    def lab(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = samples[samples["channel"] == name]
        return rows["t_s"].to_numpy(float) - t0, rows["value"].to_numpy(float)

    fig, (ax, axv) = plt.subplots(2, 1, figsize=(10, 6), dpi=90, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    try:
        f = event.field
        end = event.duration_s
        ax.plot(f["time_s"], f[channel] / 1000.0, color="tab:orange", lw=1.2, label=f"field {channel}")
        t, y = lab(channels.PCC_P_W)
        keep = (t >= -5) & (t <= end + 5)
        ax.plot(t[keep], y[keep] / ratio / 1000.0, color="tab:blue", lw=1.2, label="lab PCC (analyzer) / ratio")
        for name, label, style in (
            (channels.LIMIT_PCC_MAX_W, "import limit sent", "-"),
            (channels.LIMIT_PCC_MIN_W, "-export limit sent", "--"),
        ):
            t, y = lab(name)
            if len(t):
                t = np.append(t, end)
                y = np.append(y, y[-1])
                ax.step(t, y / ratio / 1000.0, where="post", color="black", lw=0.9, ls=style, label=label)
        for col, label in (("import_limit_w", "field import limit"), ("export_limit_w", "field -export limit")):
            if col in f.columns:
                sign = -1.0 if col.startswith("export") else 1.0
                ax.plot(f["time_s"], sign * f[col] / 1000.0, color="gray", lw=0.8, ls=":", label=label)
        trigger = replay_event.trigger_entry()
        if trigger is not None:
            ax.axvspan(
                trigger.t_s,
                trigger.t_s + band.response_window_s,
                color="tab:red",
                alpha=0.07,
                label=f"response window {band.response_window_s:g} s",
            )
        for s in steps[1:]:
            for a in (ax, axv):
                a.axvline(s.t_s, color="gray", lw=0.6, alpha=0.6)
            ax.annotate(
                s.label().split(":")[0],
                (s.t_s, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                ha="left",
                va="top",
                color="dimgray",
            )
        ax.set_ylabel("PCC power, import + (kW, field)")
        ax.set_title(f"{event.name}: lab vs field", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7, ncol=2)
        if "pcc_v_pu" in f.columns:
            axv.plot(f["time_s"], f["pcc_v_pu"], color="tab:orange", lw=1.0, label="field PCC voltage")
        t, y = lab("grid.v1_v")
        keep = (t >= -5) & (t <= end + 5)
        if keep.any():
            axv.plot(
                t[keep],
                y[keep] / settings.nominal_voltage_v,
                color="tab:blue",
                lw=1.0,
                label="lab grid simulator / nominal",
            )
        ts = [s.t_s for s in steps] + [end]
        vs = [s.twin.pcc_voltage_pu for s in steps]
        axv.step(ts, vs + vs[-1:], where="post", color="black", lw=0.8, ls="--", label="twin PCC voltage")
        axv.set_ylabel("voltage (pu)")
        axv.set_xlabel("time from the event start (s)")
        axv.set_xlim(-2, end + 2)
        axv.grid(alpha=0.3)
        axv.legend(loc="best", fontsize=7, ncol=3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _kw(value: float | None) -> str:
    return "&mdash;" if value is None or not np.isfinite(value) else f"{value / 1000.0:,.1f} kW"


def _html(
    run_dir: Path,
    replay_event: ReplayEvent,
    out: dict[str, Any],
    replay: dict[str, Any],
    results: list[Result],
    png: bytes | None,
) -> str:
    event, mapping, band = replay_event.event, replay_event.mapping, replay_event.score
    site = event.site
    verdict = replay["score"].get("verdict", ERROR)
    meta = [
        ("Event", event.name),
        ("File", str(event.path)),
        ("Description", " ".join(event.description.split())),
        ("Feeder", event.feeder),
        ("Site", f"{site.element} at bus {site.bus}, rating {mapping.rating_w / 1000:g} kW"),
        (
            "Mapping",
            f"bench W = field W x {mapping.bench_ratio:g} (load, EV, PV, battery, limits); "
            "PCC voltage in pu x the bench's nominal",
        ),
        ("Field trace", str(event.field_path)),
        (
            "Pass band",
            f"NRMSE <= {band.nrmse_max:g}; response time within {band.response_time_tolerance_s:g} s of the field's",
        ),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in meta)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>flexbench replay</title>",
        STYLE,
        "</head><body style='font-family: sans-serif'>",
        f"<h1>Field event replay: {escape(event.name)}</h1>",
        run_header_html(out["run"], run_dir),
        f'<table class="fb-matrix fb-run">{rows}</table>',
        f'<p>Match: <span class="fb-{escape(verdict)}">{escape(verdict.upper())}</span></p>',
    ]
    if replay.get("aborted"):
        parts.append(f"<p class='fb-error'>Replay {escape(replay['aborted'])}; bench driven to safe state.</p>")
    parts.append(results_table_html([r.to_dict() for r in results]))
    if png is not None:
        parts.append("<h2>Lab and field</h2>" + png_img(png, "overlay of lab and field traces"))
    parts.append("<h2>Timeline</h2>" + _timeline_html(replay["timeline"]))
    station = Path(run_dir) / STATION_FILE
    if station.exists():
        parts.append(
            "<details><summary>Station</summary><pre>"
            + escape(json.dumps(json.loads(station.read_text(encoding="utf-8")), indent=2))
            + "</pre></details>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _timeline_html(rows: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>t (s)</th><th>#</th><th>action</th><th>values</th><th>twin PCC V (pu)</th>"
        "<th>twin envelope import / export</th><th>sent to the bench</th></tr>"
    )
    body = []
    for r in rows:
        tw = r["twin"]
        values = ", ".join(f"{k}={v}" for k, v in r["values"].items())
        sent = ""
        if "envelope_sent_w" in r:
            e = r["envelope_sent_w"]
            sent = (
                f"import {_kw(e['import_limit_w'])} (non-firm {_kw(e['nonfirm_import_w'])}), "
                f"export {_kw(e['export_limit_w'])} (non-firm {_kw(e['nonfirm_export_w'])}); "
            )
        if "signal" in r:
            sent += "bench: " + ", ".join(
                f"{k}={v:.0f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["signal"].items()
            )
        body.append(
            f"<tr><td>{r['t_s']:g}</td><td>{r['entry']}</td><td>{escape(r['action'])}</td><td>{escape(values)}</td>"
            f"<td>{tw['pcc_voltage_pu']:.4f}</td><td>{_kw(tw['import_limit_w'])} / {_kw(tw['export_limit_w'])}"
            f"<br><small>{escape(tw['binding_import'])} / {escape(tw['binding_export'])}</small></td>"
            f"<td>{escape(sent) or '&mdash;'}</td></tr>"
        )
    return f'<table class="fb-matrix">{head}{"".join(body)}</table>'
