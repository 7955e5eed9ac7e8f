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
    write_customer_feeder,
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


def test_customer_feeder_splits_loads_on_their_service_drops(tmp_path) -> None:
    base = Twin.from_name("ieee8500")
    master = write_customer_feeder("ieee8500", 1500, tmp_path, seed=2)
    twin = Twin.from_file(master)
    assert len(twin.sites) == 1500
    # the load is shared among a transformer's customers, not added
    total = sum(s.nominal_w for s in twin.sites)
    assert total == pytest.approx(sum(s.nominal_w for s in base.sites), rel=1e-4)
    split = [s for s in twin.sites if "_c" in s.site_id]
    assert split and all(s.service_transformer for s in split)
    assert write_customer_feeder("ieee8500", 1500, tmp_path / "again", seed=2).with_suffix("").name == master.stem
    assert (tmp_path / "again" / "customers.dss").read_text() == (tmp_path / "customers.dss").read_text()
    with pytest.raises(TwinError, match="cannot make 100 customers"):
        write_customer_feeder("ieee8500", 100, tmp_path / "few")
