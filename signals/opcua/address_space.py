"""Builds the envelope server's address space: a Sites folder, one object per site, typed variables.

Analog variables are AnalogItemType with EURange (the site's physical range)
and EngineeringUnits, so generic OPC-UA clients show units and ranges; the
operating mode is a MultiStateDiscrete with EnumStrings. Nodes are added in
one batch per site, which keeps start-up short for hundreds of sites.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from asyncua import Server, ua

from flexbench.signals.opcua import model
from flexbench.signals.opcua.access import WriteRule
from flexbench.signals.opcua.ids import ua_node_id
from flexbench.signals.opcua.model import SiteSpec, VariableDef, Writer

NO_TIME = ua.get_win_epoch()  # OPC-UA DateTime minimum: "never"


def initial_value(var: VariableDef, site: SiteSpec, heartbeat_interval_s: float) -> Any:
    initial = {
        model.IMPORT_LIMIT: site.firm_import_w,
        model.EXPORT_LIMIT: site.firm_export_w,
        model.FIRM_IMPORT_LIMIT: site.firm_import_w,
        model.FIRM_EXPORT_LIMIT: site.firm_export_w,
        model.ABNORMAL_IMPORT_LIMIT: site.rated_import_w,
        model.APPLIED_IMPORT_LIMIT: site.firm_import_w,
        model.APPLIED_EXPORT_LIMIT: site.firm_export_w,
        model.HEARTBEAT_INTERVAL: heartbeat_interval_s,
        model.LIMIT_SOURCE: "firm",
    }
    if var.name in initial:
        return initial[var.name]
    if var.array:
        return []
    return {
        ua.VariantType.Double: 0.0,
        ua.VariantType.UInt32: 0,
        ua.VariantType.DateTime: NO_TIME,
        ua.VariantType.String: "",
    }[var.variant_type]


def _property(parent: ua.NodeId, ident: str, name: str, variant: ua.Variant, datatype: int) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = ua_node_id(ident, parent.NamespaceIndex)
    item.BrowseName = ua.QualifiedName(name, 0)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua_node_id(ua.ObjectIds.HasProperty)
    item.TypeDefinition = ua_node_id(ua.ObjectIds.PropertyType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.Description = ua.LocalizedText(name)
    attrs.DataType = ua_node_id(datatype)
    attrs.Value = variant
    attrs.ValueRank = ua.ValueRank.OneDimension if variant.is_array else ua.ValueRank.Scalar
    attrs.ArrayDimensions = [0] if variant.is_array else None  # type: ignore[assignment]  # a null array, as asyncua writes it
    attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item.NodeAttributes = attrs
    return item


def _variable(parent: ua.NodeId, site: SiteSpec, var: VariableDef, value: Any) -> list[ua.AddNodesItem]:
    ns = parent.NamespaceIndex
    nodeid = model.node_id(site.name, var.name, ns)
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nodeid
    item.BrowseName = ua.QualifiedName(var.name, ns)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua_node_id(ua.ObjectIds.HasComponent)
    if var.analog:
        item.TypeDefinition = ua_node_id(ua.ObjectIds.AnalogItemType)
    elif var.name == model.OPERATING_MODE:
        item.TypeDefinition = ua_node_id(ua.ObjectIds.MultiStateDiscreteType)
    else:
        item.TypeDefinition = ua_node_id(ua.ObjectIds.BaseDataVariableType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(var.name)
    attrs.Description = ua.LocalizedText(var.name)
    attrs.DataType = ua_node_id(var.variant_type.value)
    attrs.Value = ua.Variant(value, var.variant_type, is_array=var.array)
    attrs.ValueRank = ua.ValueRank.OneDimension if var.array else ua.ValueRank.Scalar
    attrs.ArrayDimensions = [0] if var.array else None  # type: ignore[assignment]  # a null array, as asyncua writes it
    access = ua.AccessLevel.CurrentRead.mask
    if var.writer != Writer.NOBODY:
        access |= ua.AccessLevel.CurrentWrite.mask
    attrs.AccessLevel = attrs.UserAccessLevel = access
    attrs.WriteMask = attrs.UserWriteMask = 0
    attrs.Historizing = False
    item.NodeAttributes = attrs
    items = [item]
    ident = model.node_id_string(site.name, var.name)
    eu_range = var.eu_range(site)
    if var.analog and eu_range is not None:
        low, high = eu_range
        rng = ua.Variant(ua.Range(Low=low, High=high), ua.VariantType.ExtensionObject)
        items.append(_property(nodeid, f"{ident}.EURange", "EURange", rng, ua.ObjectIds.Range))
    if var.unit is not None:
        unit = ua.Variant(var.unit, ua.VariantType.ExtensionObject)
        items.append(
            _property(nodeid, f"{ident}.EngineeringUnits", "EngineeringUnits", unit, ua.ObjectIds.EUInformation)
        )
    if var.name == model.OPERATING_MODE:
        names = [ua.LocalizedText(m.name.capitalize()) for m in model.OperatingMode]
        enum = ua.Variant(names, ua.VariantType.LocalizedText, is_array=True)
        items.append(_property(nodeid, f"{ident}.EnumStrings", "EnumStrings", enum, ua.ObjectIds.LocalizedText))
    return items


def _argument(name: str, vtype: ua.VariantType, description: str, array: bool = False) -> ua.Argument:
    arg = ua.Argument()
    arg.Name = name
    arg.DataType = ua_node_id(vtype.value)
    arg.ValueRank = ua.ValueRank.OneDimension if array else ua.ValueRank.Scalar
    arg.ArrayDimensions = [0] if array else []
    arg.Description = ua.LocalizedText(description)
    return arg


_D, _DT, _U32 = ua.VariantType.Double, ua.VariantType.DateTime, ua.VariantType.UInt32
METHOD_ARGUMENTS: dict[str, tuple[list[ua.Argument], list[ua.Argument]]] = {
    model.PUBLISH_ENVELOPE: (
        [
            _argument("Start", _DT, "interval starts (UTC)", array=True),
            _argument("DurationS", _D, "interval durations in s", array=True),
            _argument("ImportLimitW", _D, "import limits in W", array=True),
            _argument("ExportLimitW", _D, "export limits in W", array=True),
        ],
        [_argument("EnvelopeVersion", _U32, "version number of the published envelope")],
    ),
    model.SIGNAL_ABNORMAL: (
        [
            _argument("MaxImportW", _D, "maximum import during abnormal operation, in W"),
            _argument("DurationS", _D, "how long it holds, in s; 0 until cleared"),
        ],
        [],
    ),
    model.CLEAR_ABNORMAL: ([], []),
}

MethodHandler = Callable[..., Any]


async def build(
    server: Server,
    ns: int,
    sites: list[SiteSpec],
    heartbeat_interval_s: float,
    handlers: dict[str, MethodHandler],
) -> dict[ua.NodeId, WriteRule]:
    """Add the Sites folder, the site objects, their variables and methods; returns the write rules."""
    folder = await server.nodes.objects.add_folder(ua_node_id("Sites", ns), ua.QualifiedName("Sites", ns))
    rules: dict[ua.NodeId, WriteRule] = {}
    session = server.iserver.isession
    for site in sites:
        site_obj = await folder.add_object(model.site_node_id(site.name, ns), ua.QualifiedName(site.name, ns))
        items: list[ua.AddNodesItem] = []
        for var in model.VARIABLES:
            items += _variable(site_obj.nodeid, site, var, initial_value(var, site, heartbeat_interval_s))
            if var.writer != Writer.NOBODY:
                low_high = var.eu_range(site) or (None, None)
                rules[model.node_id(site.name, var.name, ns)] = WriteRule(
                    site.name, var.name, var.writer, var.variant_type, *low_high
                )
        for result in await session.add_nodes(items):
            result.StatusCode.check()
        for name in model.METHODS:
            inputs, outputs = METHOD_ARGUMENTS[name]
            await site_obj.add_method(
                model.node_id(site.name, name, ns), ua.QualifiedName(name, ns), handlers[name], inputs, outputs
            )
    return rules


def as_datetime(unix_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC)
