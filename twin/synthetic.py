"""A synthetic utility: many feeder instances made from the shipped feeders.

A utility has thousands of feeders; the twin ships three. An instance is a base
feeder plus what differs from feeder to feeder in the field: how loaded it is
(a feeder-wide scale and a per-customer spread), how much PV is on it (share of
customers with PV, PV size relative to load), and which customers have a
flexible connection (the sites that get envelopes). Everything is drawn from
the instance's seed, so an instance listed in a manifest is rebuilt the same
way on any machine:

    instances = generate_instances(1000, bases=("ieee13", "ieee123"), seed=7)
    write_manifest(instances, "utility.json")
    env = instance_envelope(read_manifest("utility.json")[0])

The network itself (lines, transformers, regulators) stays the base feeder's,
so workers compile each base once and reuse it for all its instances.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.twin.compute import EnvelopeSettings
from flexbench.twin.envelope import EnvelopeSet
from flexbench.twin.errors import TwinError
from flexbench.twin.feeders import resolve_feeder
from flexbench.twin.operating_envelopes import variable_envelope
from flexbench.twin.profiles import Profiles, parse_duration, parse_resolution, synthetic_profiles
from flexbench.twin.twin import Twin

MANIFEST_FORMAT = "flexbench-feeder-manifest"
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
DEFAULT_BASES = ("ieee13", "ieee123")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class FeederInstance:
    """One synthetic feeder: a base feeder, its load and PV, its customer sites, its horizon."""

    instance_id: str
    base: str  # embedded feeder name or OpenDSS master path
    seed: int
    load_scale: float = 1.0  # multiplies the base feeder's typical load (peak_fraction)
    load_spread: float = 0.15  # sigma of the per-customer lognormal load factor
    pv_share: float = 0.3  # share of customers with PV
    pv_ratio: float = 1.0  # PV rating / customer's model load
    site_fraction: float = 1.0  # share of customers with a flexible connection (>= 1 site)
    start: str = "2026-07-01T00:00:00+00:00"
    horizon: str = "24h"
    resolution: str = "15min"

    @property
    def intervals(self) -> int:
        return int(parse_duration(self.horizon) / parse_resolution(self.resolution))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "manifest") -> FeederInstance:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TwinError(f"{where}: unknown instance keys {unknown}; known: {sorted(known)}")
        for key in ("instance_id", "base", "seed"):
            if key not in data:
                raise TwinError(f"{where}: instance lacks {key!r}")
        if not ID_PATTERN.match(str(data["instance_id"])):
            raise TwinError(f"{where}: instance_id {data['instance_id']!r}: use letters, digits, '_', '.', '-'")
        try:
            inst = cls(**data)
            if not 0 < inst.site_fraction <= 1 or not 0 <= inst.pv_share <= 1:
                raise ValueError("site_fraction must be in (0, 1] and pv_share in [0, 1]")
            if inst.load_scale <= 0 or inst.load_spread < 0 or inst.pv_ratio < 0:
                raise ValueError("load_scale must be positive; load_spread and pv_ratio not negative")
            if inst.intervals < 1:
                raise ValueError(f"horizon {inst.horizon} is shorter than one {inst.resolution} interval")
            pd.Timestamp(inst.start)
        except (TypeError, ValueError) as exc:
            raise TwinError(f"{where}: instance {data.get('instance_id')!r}: {exc}") from None
        return inst


def generate_instances(
    count: int,
    bases: tuple[str, ...] | list[str] = DEFAULT_BASES,
    seed: int = 0,
    start: str | pd.Timestamp = "2026-07-01",
    horizon: str = "24h",
    resolution: str = "15min",
) -> list[FeederInstance]:
    """`count` instances cycling through the base feeders, with loads, PV and sites drawn from `seed`."""
    if count < 1:
        raise TwinError(f"a synthetic utility needs at least one feeder, got {count}")
    for base in bases:
        resolve_feeder(base)  # unknown bases fail here, with near names
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    rng = np.random.default_rng(seed)
    width = max(4, len(str(count - 1)))
    out = []
    for i in range(count):
        base = bases[i % len(bases)]
        short = Path(base).stem if ("/" in base or base.endswith(".dss")) else base
        out.append(
            FeederInstance(
                instance_id=f"{short}-{i:0{width}d}",
                base=base,
                seed=int(rng.integers(0, 2**31 - 1)),
                load_scale=round(float(rng.uniform(0.7, 1.2)), 4),
                load_spread=round(float(rng.uniform(0.05, 0.25)), 4),
                pv_share=round(float(rng.uniform(0.1, 0.6)), 4),
                pv_ratio=round(float(rng.uniform(0.5, 1.5)), 4),
                site_fraction=round(float(rng.uniform(0.3, 1.0)), 4),
                start=ts.isoformat(),
                horizon=horizon,
                resolution=resolution,
            )
        )
    return out


# -- manifests ------------------------------------------------------------------------------
def write_manifest(instances: list[FeederInstance], path: str | Path) -> Path:
    """JSON manifest listing the instances (what `--feeders MANIFEST` reads)."""
    path = Path(path)
    ids = [i.instance_id for i in instances]
    if len(set(ids)) != len(ids):
        raise TwinError("instance ids must be unique")
    doc = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "instances": [i.to_dict() for i in instances]}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def read_manifest(path: str | Path) -> list[FeederInstance]:
    """Instances of a manifest file; TwinError naming the file and the instance on bad input."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise TwinError(f"manifest not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise TwinError(f"{path}: not a JSON manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("instances"), list):
        raise TwinError(f"{path}: not a {MANIFEST_FORMAT} (expects {{'format': ..., 'instances': [...]}})")
    instances = [FeederInstance.from_dict(d, f"{path} instance {k}") for k, d in enumerate(doc["instances"])]
    ids = [i.instance_id for i in instances]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise TwinError(f"{path}: instance ids listed twice: {dupes[:5]}")
    return instances


def load_instances(path: str | Path, seed: int = 0) -> list[FeederInstance]:
    """A manifest file; a folder holding manifest.json; or a folder of OpenDSS master files (one instance each)."""
    path = Path(path)
    if path.is_file():
        return read_manifest(path)
    if not path.is_dir():
        raise TwinError(f"--feeders {path}: no such manifest file or folder")
    if (path / MANIFEST_NAME).is_file():
        return read_manifest(path / MANIFEST_NAME)
    masters = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".dss" and _defines_circuit(p))
    if not masters:
        raise TwinError(f"{path}: holds neither {MANIFEST_NAME} nor OpenDSS master files ('New Circuit.')")
    rng = np.random.default_rng(seed)
    return [
        FeederInstance(instance_id=_unique_id(p, path), base=str(p.resolve()), seed=int(rng.integers(0, 2**31 - 1)))
        for p in masters
    ]


def _defines_circuit(path: Path) -> bool:
    try:
        return "new circuit." in path.read_text(errors="replace").lower()
    except OSError:
        return False


def _unique_id(master: Path, root: Path) -> str:
    rel = master.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(rel.parts))


# -- building an instance -------------------------------------------------------------------
def instance_sites(instance: FeederInstance, twin: Twin) -> list[str]:
    """The customers of this instance with a flexible connection (feeder order)."""
    ids = twin.site_ids
    rng = np.random.default_rng([instance.seed, 1])
    count = max(1, int(round(instance.site_fraction * len(ids))))
    chosen = np.sort(rng.choice(len(ids), size=min(count, len(ids)), replace=False))
    return [ids[k] for k in chosen]


def instance_profiles(instance: FeederInstance, twin: Twin) -> Profiles:
    """Load and PV of every customer over the instance's horizon."""
    res = parse_resolution(instance.resolution)
    prof = synthetic_profiles(
        twin.sites,
        pd.Timestamp(instance.start),
        instance.intervals,
        res,
        seed=instance.seed,
        peak_fraction=0.6 * instance.load_scale,
        pv_share=instance.pv_share,
        pv_ratio=instance.pv_ratio,
    )
    rng = np.random.default_rng([instance.seed, 2])
    factor = rng.lognormal(0.0, instance.load_spread, len(twin.sites)).clip(0.5, 2.0)
    load = prof.load_w * factor[None, :]
    return Profiles(load, prof.pv_w, f"synthetic instance {instance.instance_id}")


def instance_envelope(
    instance: FeederInstance, twin: Twin | None = None, settings: EnvelopeSettings | None = None
) -> EnvelopeSet:
    """Day-ahead (variable) envelope of the instance's sites; a fresh twin unless one of its base is given."""
    twin = twin or Twin.load(instance.base)
    return variable_envelope(
        twin,
        sites=instance_sites(instance, twin),
        profiles=instance_profiles(instance, twin),
        start=instance.start,
        horizon=instance.horizon,
        resolution=instance.resolution,
        settings=settings or EnvelopeSettings(),
    )


# -- a feeder with more customers --------------------------------------------------------------
_REDIRECT = re.compile(r"^(\s*(?:redirect|buscoords)\s+)(\S+)(.*)$", re.IGNORECASE)
_NEW_LOAD = re.compile(r"^\s*new\s+load\.(\S+)", re.IGNORECASE)
_NEW_LINE = re.compile(r"^\s*new\s+line\.(\S+)", re.IGNORECASE)
_BUS = re.compile(r"(\bbus([12])\s*=\s*)([^.\s]+)", re.IGNORECASE)
_BUS2 = re.compile(r"(\bbus2\s*=\s*)([^.\s]+)", re.IGNORECASE)
_KW = re.compile(r"(\bkw\s*=\s*)([-+0-9.eE]+)", re.IGNORECASE)


def write_customer_feeder(base: str, customers: int, out_dir: str | Path, seed: int = 0) -> Path:
    """A feeder like `base` with about `customers` customers; returns its master file.

    Real service transformers feed several customers each; the IEEE feeders
    model one load per transformer. Each load fed by its own service drop (a
    line ending at the load's bus) becomes several customers, each on a copy of
    that drop, sharing the load's kW (lognormal shares drawn from `seed`). The
    network upstream of the drops is the base feeder's (its drops stay, unloaded),
    so the total load and the primary flows stay the same.
    """
    source = resolve_feeder(base)
    master = Path(source.master)
    files, text_of = [], {}
    lines_out = []
    for line in master.read_text(errors="replace").splitlines():
        m = _REDIRECT.match(line)
        if m:
            target = (master.parent / m.group(2)).resolve()
            files.append(target)
            text_of[target] = target.read_text(errors="replace") if target.is_file() else ""
            line = f'{m.group(1)}"{target}"{m.group(3)}'
        lines_out.append(line)
    drops: dict[str, str] = {}  # load bus -> the line feeding it
    for text in text_of.values():
        for line in text.splitlines():
            if _NEW_LINE.match(line):
                buses = {m.group(2): m.group(3).lower() for m in _BUS.finditer(line)}
                if "2" in buses:
                    drops[buses["2"]] = line.split("!")[0]
    load_files = [f for f in files if any(_NEW_LOAD.match(x) for x in text_of[f].splitlines())]
    loads = [x.split("!")[0] for f in load_files for x in text_of[f].splitlines() if _NEW_LOAD.match(x)]
    split = [k for k, x in enumerate(loads) if (b := _BUS.search(x)) and b.group(3).lower() in drops]
    extra = customers - len(loads)
    if not split or extra < 0:
        raise TwinError(
            f"{base}: has {len(loads)} loads, {len(split)} of them on a service drop; cannot make {customers} customers"
        )
    rng = np.random.default_rng(seed)
    count = np.ones(len(loads), dtype=int)
    count[split] += extra // len(split)
    count[rng.choice(split, extra % len(split), replace=False)] += 1
    out = []
    for k, line in enumerate(loads):
        if count[k] == 1:
            out.append(line)
            continue
        name = _NEW_LOAD.match(line).group(1)  # type: ignore[union-attr]
        bus = _BUS.search(line).group(3)  # type: ignore[union-attr]
        drop = drops[bus.lower()]
        kw = _KW.search(line)
        share = rng.lognormal(0.0, 0.3, count[k])
        share /= share.sum()
        for c in range(count[k]):
            new_bus = f"{bus}_c{c}"
            drop_name = _NEW_LINE.match(drop).group(1)  # type: ignore[union-attr]
            # the copy of the drop ends at the customer's own bus (bus2), the load sits there
            out.append(_BUS2.sub(rf"\g<1>{new_bus}", drop).replace(f"Line.{drop_name}", f"Line.{drop_name}_c{c}", 1))
            new = _BUS.sub(rf"\g<1>{new_bus}", line).replace(f"Load.{name}", f"Load.{name}_c{c}", 1)
            if kw:
                new = _KW.sub(rf"\g<1>{float(kw.group(2)) * share[c]:.4f}", new)
            out.append(new)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "customers.dss").write_text("\n".join(out) + "\n")
    text = "\n".join(lines_out) + "\n"
    for f in load_files:
        text = text.replace(f'"{f}"', f'"{(out_dir / "customers.dss").resolve()}"', 1)
    path = out_dir / f"{source.name}-{customers}-customers.dss"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m flexbench.twin.synthetic N MANIFEST.json [--bases ieee13,ieee123] [--seed S]`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m flexbench.twin.synthetic", description="Write a manifest of N synthetic feeder instances."
    )
    parser.add_argument("count", type=int)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--bases", default=",".join(DEFAULT_BASES), help="base feeders, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2026-07-01", help="first interval (UTC)")
    parser.add_argument("--horizon", default="24h")
    parser.add_argument("--resolution", default="15min", choices=("15min", "1h"))
    args = parser.parse_args(argv)
    try:
        instances = generate_instances(
            args.count,
            tuple(b for b in args.bases.split(",") if b),
            args.seed,
            args.start,
            args.horizon,
            args.resolution,
        )
        write_manifest(instances, args.manifest)
    except (TwinError, OSError) as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    print(f"wrote {args.manifest}: {len(instances)} instances of {args.bases}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
