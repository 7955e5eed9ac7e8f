"""Plots of envelopes as SVG files, drawn with the standard library only.

Two views: the envelope band of one site over time (import limit above, export
limit below zero, firm part shaded darker, forecast as a line), and a feeder
map of headroom for one interval (sites at their bus coordinates, coloured by
how much they may import or export beyond their forecast).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from flexbench.twin.envelope import EnvelopeSet

WIDTH, HEIGHT, PAD = 820, 420, 60


def _frame(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]


def _poly(xs, ys, **attrs) -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<polyline points="{pts}" fill="none" {extra}/>'


def _area(xs, top, bottom, color: str, opacity: float) -> str:
    pts = [f"{x:.1f},{y:.1f}" for x, y in zip(xs, top)]
    pts += [f"{x:.1f},{y:.1f}" for x, y in zip(xs[::-1], bottom[::-1])]
    return f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="{opacity}" stroke="none"/>'


def band_svg(env: EnvelopeSet, site_id: str, path: str | Path) -> Path:
    """The envelope of one site over the intervals (kW), written to path."""
    if site_id not in env.site_ids:
        env.site(site_id)  # raises SiteError naming the near ids
    i = env.site_ids.index(site_id)
    imp = env.import_limit_w[i] / 1000.0
    exp = -env.export_limit_w[i] / 1000.0
    fi = np.full_like(imp, env.firm_import_w[i] / 1000.0)
    fe = np.full_like(exp, -env.firm_export_w[i] / 1000.0)
    fc = env.forecast_import_w[i] / 1000.0
    nt = len(imp)
    lo = min(exp.min(), fc.min(), 0.0)
    hi = max(imp.max(), fc.max(), 0.0)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def sx(k):
        return PAD + (WIDTH - 2 * PAD) * (np.asarray(k, dtype=float) + 0.5) / max(nt, 1)

    def sy(v):
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (np.asarray(v) - lo) / (hi - lo)

    xs = sx(np.arange(nt))
    zero = np.zeros(nt)
    out = _frame(f"{env.kind} envelope of {site_id} ({env.feeder}, {env.allocation})")
    out.append(_area(xs, sy(imp), sy(zero), "#4a90d9", 0.25))
    out.append(_area(xs, sy(np.minimum(fi, imp)), sy(zero), "#4a90d9", 0.45))
    out.append(_area(xs, sy(zero), sy(exp), "#e3962b", 0.25))
    out.append(_area(xs, sy(zero), sy(np.maximum(fe, exp)), "#e3962b", 0.45))
    out.append(_poly(xs, sy(fc), stroke="#222", stroke_width=1.5))
    out.append(_poly([PAD, WIDTH - PAD], [float(sy(0)), float(sy(0))], stroke="#888"))
    for v in np.linspace(lo, hi, 6):
        out.append(f'<text x="{PAD - 6}" y="{float(sy(v)) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    labels = _interval_labels(env)
    step = max(1, nt // 8)
    for k in range(0, nt, step):
        out.append(
            f'<text x="{float(sx(k)):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{escape(labels[k])}</text>'
        )
    out.append(
        f'<text x="16" y="{HEIGHT / 2}" transform="rotate(-90 16 {HEIGHT / 2})" text-anchor="middle">kW (import +, export -)</text>'
    )
    out.append(
        f'<text x="{PAD}" y="{HEIGHT - 12}">blue: import limit (dark: firm); orange: export limit '
        f"(dark: firm); line: forecast net import</text>"
    )
    out.append("</svg>")
    path = Path(path)
    path.write_text("\n".join(out))
    return path


def _interval_labels(env: EnvelopeSet) -> list[str]:
    iv = env.intervals
    if env.kind == "static":
        return [f"M{m} {h:02d}h" for m, h in zip(iv["month"], iv["hour"])]
    return [s.strftime("%d %H:%M") if s is not None and s == s else "" for s in iv["start"]]


def headroom_map_svg(env: EnvelopeSet, twin, interval: int, path: str | Path, direction: str = "import") -> Path:
    """Sites at their bus coordinates, coloured by headroom beyond forecast (kW)."""
    sites = {s.site_id: s for s in twin.sites}
    idx = [k for k, sid in enumerate(env.site_ids) if sites[sid].x is not None]
    if not idx:
        raise ValueError(f"feeder {env.feeder} has no bus coordinates")
    if direction == "import":
        head = env.import_limit_w[idx, interval] - env.forecast_import_w[idx, interval]
    else:
        head = env.export_limit_w[idx, interval] + env.forecast_import_w[idx, interval]
    head = head / 1000.0
    xs = np.array([sites[env.site_ids[k]].x for k in idx])
    ys = np.array([sites[env.site_ids[k]].y for k in idx])
    buses = np.array(list(twin.model.bus_xy.values())) if twin.model.bus_xy else np.c_[xs, ys]
    x0, x1 = buses[:, 0].min(), buses[:, 0].max()
    y0, y1 = buses[:, 1].min(), buses[:, 1].max()
    sx = lambda x: PAD + (WIDTH - 2 * PAD - 120) * (x - x0) / ((x1 - x0) or 1.0)  # noqa: E731
    sy = lambda y: HEIGHT - PAD - (HEIGHT - 2 * PAD) * (y - y0) / ((y1 - y0) or 1.0)  # noqa: E731
    vmax = float(np.quantile(head, 0.95)) or 1.0
    out = _frame(f"{direction} headroom, interval {interval} ({env.feeder})")
    for b in buses:
        out.append(f'<circle cx="{sx(b[0]):.1f}" cy="{sy(b[1]):.1f}" r="1" fill="#ccc"/>')
    for x, y, h in zip(xs, ys, head):
        out.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{_color(h / vmax)}" stroke="#333" '
            f'stroke-width="0.3"><title>{h:.1f} kW</title></circle>'
        )
    for k, frac in enumerate(np.linspace(0, 1, 6)):
        y = PAD + 20 * k
        out.append(f'<rect x="{WIDTH - 150}" y="{y}" width="14" height="14" fill="{_color(frac)}"/>')
        out.append(f'<text x="{WIDTH - 130}" y="{y + 11}">{frac * vmax:.1f} kW</text>')
    out.append("</svg>")
    path = Path(path)
    path.write_text("\n".join(out))
    return path


def _color(frac: float) -> str:
    """Red (no headroom) through yellow to green (most headroom)."""
    f = float(np.clip(frac, 0.0, 1.0))
    r = int(220 if f < 0.5 else 220 - (f - 0.5) * 2 * 180)
    g = int(60 + f * 2 * 140 if f < 0.5 else 200)
    return f"#{r:02x}{g:02x}50"
