"""SunSpec layouts from pysunspec2's definitions: offsets, types, sentinels, scale factors."""

from __future__ import annotations

import math

import pytest
from sunspec2 import mdef

from flexbench.instruments.sunspec.layout import (
    LayoutError,
    ModelBlock,
    PointSpec,
    build_layout,
    decode,
    encode,
    fixed_layout,
    model_definition,
)


def _definition_length(model_id: int) -> int:
    """Model length straight from the JSON, the way the specification defines L."""
    top = model_definition(model_id)[mdef.GROUP]

    def size(group):
        total = 0
        for p in group[mdef.POINTS]:
            total += mdef.point_type_info[p[mdef.TYPE]]["len"] or p[mdef.SIZE]
        for sub in group.get(mdef.GROUPS, []):
            total += size(sub)
        return total

    return size(top) - 2


@pytest.mark.parametrize("model_id, length", [(1, 66), (701, 153), (702, 50), (704, 65)])
def test_model_lengths_match_the_definitions(model_id, length):
    layout = fixed_layout(model_id)
    assert layout.length == length == _definition_length(model_id)
    assert layout.point("ID").offset == 0 and layout.point("L").offset == 1


def test_offsets_types_and_scale_factor_references():
    ctl = fixed_layout(704)
    assert ctl.point("WMaxLimPctEna").offset == 14 and ctl.point("WMaxLimPctEna").type == "enum16"
    spec = ctl.point("WMaxLimPct")
    assert (spec.offset, spec.type, spec.sf, spec.access, spec.units) == (15, "uint16", "WMaxLimPct_SF", "RW", "Pct")
    assert ctl.point("WSet").size == 2 and ctl.point("WSet").sf == "WSet_SF"
    assert ctl.point("PFWInj.PF").sf == "PF_SF"  # resolved from the enclosing model group
    assert ctl.point("WMaxLimPctEna").symbols == {"DISABLED": 0, "ENABLED": 1}
    ac = fixed_layout(701)
    assert ac.point("Hz").type == "uint32" and ac.point("TotWhInj").size == 4
    assert ac.point("W").offset < ac.point("W_SF").offset  # scale factors may follow their points
    assert fixed_layout(1).point("Mn").size == 16


def test_points_cover_the_model_without_gaps():
    for model_id in (1, 701, 702, 704):
        layout = fixed_layout(model_id)
        offset = 0
        for spec in layout.points.values():
            assert spec.offset == offset
            offset = spec.end
        assert offset == layout.size


@pytest.mark.parametrize(
    "ptype, words",
    [
        ("int16", [0x8000]),
        ("uint16", [0xFFFF]),
        ("enum16", [0xFFFF]),
        ("bitfield16", [0xFFFF]),
        ("sunssf", [0x8000]),
        ("acc16", [0]),
        ("int32", [0x8000, 0x0000]),
        ("uint32", [0xFFFF, 0xFFFF]),
        ("enum32", [0xFFFF, 0xFFFF]),
        ("bitfield32", [0xFFFF, 0xFFFF]),
        ("acc32", [0, 0]),
        ("int64", [0x8000, 0, 0, 0]),
        ("uint64", [0xFFFF] * 4),
        ("float32", [0x7FC0, 0x0000]),
        ("string", [0, 0, 0, 0]),
    ],
)
def test_sentinels_read_as_none_and_none_writes_the_sentinel(ptype, words):
    spec = PointSpec(name="X", offset=0, type=ptype, size=len(words), sf=None, access="RW")
    assert decode(spec, words) is None
    assert encode(spec, None) == words


def test_signed_and_wide_values_round_trip():
    cases = [
        ("int16", 1, -1234),
        ("int32", 2, -70000),
        ("uint32", 2, 4_000_000_000),
        ("int64", 4, -(2**40)),
        ("uint64", 4, 2**50),
        ("float32", 2, 1.5),
        ("string", 4, "abc"),
    ]
    for ptype, size, value in cases:
        spec = PointSpec(name="X", offset=0, type=ptype, size=size, sf=None, access="RW")
        assert decode(spec, encode(spec, value)) == value
    with pytest.raises(ValueError, match="not implemented"):
        encode(PointSpec(name="X", offset=0, type="uint16", size=1, sf=None, access="RW"), 0xFFFF)
    with pytest.raises(ValueError, match="does not fit"):
        encode(PointSpec(name="X", offset=0, type="int16", size=1, sf=None, access="RW"), 40000)
    with pytest.raises(ValueError, match="exceeds"):
        encode(PointSpec(name="X", offset=0, type="string", size=2, sf=None, access="RW"), "toolong")


def test_blank_block_holds_sentinels_and_the_header():
    block = ModelBlock(fixed_layout(701))
    assert block.registers[:2] == [701, 153]
    assert all(block.get(name) is None for name in ("W", "Hz", "TmpAmb", "TotWhInj", "MnAlrmInfo", "ACType"))


def test_scale_factors_apply_both_ways():
    block = ModelBlock(fixed_layout(701))
    block.set_raw("W_SF", -1)
    block.set("W", 1234.5)
    assert block.raw("W") == 12345 and block.get("W") == pytest.approx(1234.5)
    block.set_raw("W_SF", 2)
    assert block.get("W") == pytest.approx(1_234_500.0)
    block.set("W", -250.0)
    assert block.raw("W") == -2 and block.get("W") == -200.0  # rounded to the register's resolution


def test_a_value_with_an_unimplemented_scale_factor_reads_raw_and_refuses_writes():
    block = ModelBlock(fixed_layout(701))
    block.set_raw("W", 1000)
    assert block.get("W") == 1000  # as pysunspec2's cvalue
    with pytest.raises(ValueError, match="scale factor"):
        block.set("W", 5.0)


def test_points_without_scale_factors_keep_integers_and_strings():
    block = ModelBlock(fixed_layout(1))
    block.set("Mn", "Acme Inverters")
    block.set("DA", 3)
    assert block.get("Mn") == "Acme Inverters" and block.get("DA") == 3 and block.get("Opt") is None


def test_repeated_groups_take_their_count_from_the_count_point():
    counts = {"NCrv": 2, "NPt": 3}
    layout = build_layout(705, count_of=lambda spec: counts[spec.name.split(".")[-1]])
    assert "Crv[1].Pt[2].V" in layout.points and "Crv[2].Pt[0].V" not in layout.points
    assert layout.point("Crv[1].Pt[0].V").sf == "V_SF"
    assert layout.point("Crv[1].Pt[2].V").end <= layout.size


def test_groups_that_repeat_by_length_fill_the_model():
    one = build_layout(160)
    module = one.size - build_layout(160, repeats=0).size
    assert build_layout(160, length=one.length + module).point("module[1].DCA").offset > 0
    with pytest.raises(LayoutError):
        build_layout(160, length=one.length + 1)


def test_unknown_models_are_a_key_error():
    with pytest.raises(KeyError, match="model 9999"):
        model_definition(9999)
    with pytest.raises(KeyError, match="no point"):
        fixed_layout(704).point("NoSuchPoint")


def test_float_values_decode_nan_as_unimplemented():
    spec = PointSpec(name="X", offset=0, type="float32", size=2, sf=None, access="R")
    assert decode(spec, encode(spec, math.nan)) is None
