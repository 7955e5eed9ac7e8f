"""Synthetic feeder instances: drawn from a seed, listed in a manifest, rebuilt the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexbench.twin import Twin, TwinError
from flexbench.twin.synthetic import (
    generate_instances,
    instance_profiles,
    instance_sites,
    load_instances,
    read_manifest,
    write_manifest,
)


def test_instances_are_reproducible_and_varied() -> None:
    a = generate_instances(6, seed=5)
    assert a == generate_instances(6, seed=5)
    assert a != generate_instances(6, seed=6)
    assert [i.base for i in a] == ["ieee13", "ieee123"] * 3
    assert len({i.load_scale for i in a}) == 6 and len({i.pv_share for i in a}) == 6
    assert all(i.intervals == 96 for i in a)  # day-ahead at 15 min by default


def test_instances_differ_in_sites_loads_and_pv() -> None:
    twin = Twin.from_name("ieee13")
    a, b = generate_instances(2, bases=("ieee13",), seed=1)
    assert instance_sites(a, twin) != instance_sites(b, twin)
    pa, pb = instance_profiles(a, twin), instance_profiles(b, twin)
    assert not np.allclose(pa.load_w.to_numpy(), pb.load_w.to_numpy())
    assert pa.load_w.shape == (96, len(twin.sites))
    assert instance_profiles(a, twin).load_w.equals(pa.load_w)


def test_manifest_round_trip_and_folder(tmp_path) -> None:
    instances = generate_instances(3, seed=2, horizon="6h")
    path = write_manifest(instances, tmp_path / "manifest.json")
    assert read_manifest(path) == instances
    assert load_instances(tmp_path) == instances  # a folder holding manifest.json


def test_bad_manifest_names_file_and_instance(tmp_path) -> None:
    path = tmp_path / "bad.json"
    doc = {
        "format": "flexbench-feeder-manifest",
        "version": 1,
        "instances": [{"instance_id": "a", "base": "ieee13", "seed": 1, "pv_share": 3}],
    }
    path.write_text(json.dumps(doc))
    with pytest.raises(TwinError, match=r"bad.json instance 0.*pv_share"):
        read_manifest(path)
    path.write_text("[1, 2]")
    with pytest.raises(TwinError, match="not a flexbench-feeder-manifest"):
        read_manifest(path)
    with pytest.raises(TwinError, match="unknown feeder"):
        generate_instances(2, bases=("ieee14",))
