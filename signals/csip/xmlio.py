"""Reading and writing 2030.5 XML safely, in either CSIP-AUS namespace.

Parsing refuses DTDs (so no entity expansion, no XML bomb, no external entity),
network access and oversized documents before any model sees the data. The
resource models carry the CSIP-AUS v1.3 namespace; documents in the v1.2
namespace are mapped on the way in and out, so one set of models serves both.
"""

from __future__ import annotations

from typing import TypeVar

from envoy_schema.server.schema.sep2.der import DefaultDERControl
from lxml import etree
from pydantic import ValidationError
from pydantic_xml import BaseXmlModel

from flexbench.signals.csip.int_types import integer_problem

SEP_NS = "urn:ieee:std:2030.5:ns"
CSIPAUS_NS_V12 = "https://csipaus.org/ns"
CSIPAUS_NS_V13 = "https://csipaus.org/ns/v1.3"
CSIPAUS_NAMESPACES = {"1.2": CSIPAUS_NS_V12, "1.3": CSIPAUS_NS_V13}
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MEDIA_TYPE = "application/sep+xml"
MAX_DOCUMENT_BYTES = 512 * 1024

_V12_PREFIX = "{" + CSIPAUS_NS_V12 + "}"
_V13_PREFIX = "{" + CSIPAUS_NS_V13 + "}"

M = TypeVar("M", bound=BaseXmlModel)


class XmlError(ValueError):
    """The document is not acceptable 2030.5 XML: the server answers 400."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_tree(data: bytes) -> etree._Element:
    """Parse untrusted bytes into an element tree, refusing DTDs and entities."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise XmlError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlError("DTDs and entity declarations are not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError("DTDs are not allowed")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise XmlError("entity references are not allowed")
    _to_v13(root)
    return root


def _to_v13(root: etree._Element) -> None:
    """Rename CSIP-AUS v1.2 elements and attributes into the v1.3 namespace the models use."""
    for node in root.iter(tag=etree.Element):
        tag = node.tag
        if isinstance(tag, str) and tag.startswith(_V12_PREFIX):
            node.tag = _V13_PREFIX + tag[len(_V12_PREFIX) :]
        for name in list(node.attrib):
            if name.startswith(_V12_PREFIX):
                node.attrib[_V13_PREFIX + name[len(_V12_PREFIX) :]] = node.attrib.pop(name)


def local_name(root: etree._Element) -> str:
    return etree.QName(root).localname


def parse_model(data: bytes, model: type[M]) -> M:
    """Parse untrusted bytes as `model`; raises XmlError naming what is wrong."""
    root = parse_tree(data)
    return model_from_tree(root, model)


def model_from_tree(root: etree._Element, model: type[M]) -> M:
    expected = model.__xml_tag__ or model.__name__
    namespace = CSIPAUS_NS_V13 if getattr(model, "__xml_ns__", None) == "csipaus" else SEP_NS
    if etree.QName(root).namespace != namespace or local_name(root) != expected:
        raise XmlError(f"expected a {expected} element in {namespace}, got {root.tag}")
    try:
        parsed = model.from_xml_tree(root)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or expected}: {err['msg']}" for err in exc.errors()
        )
        raise XmlError(f"invalid {expected}: {problems}") from None
    except (ValueError, TypeError) as exc:
        raise XmlError(f"invalid {expected}: {exc}") from None
    problem = integer_problem(parsed)
    if problem is not None:
        raise XmlError(f"invalid {expected}: {problem}")
    return parsed


def to_xml(resource: BaseXmlModel, csipaus_version: str = "1.3") -> bytes:
    """Serialize a resource, with the CSIP-AUS namespace of the given version."""
    data: bytes = resource.to_xml(skip_empty=True)  # type: ignore[assignment]
    if isinstance(resource, DefaultDERControl):
        data = _with_control_base(data)
    if csipaus_version == "1.2":
        data = data.replace(CSIPAUS_NS_V13.encode(), CSIPAUS_NS_V12.encode())
    elif csipaus_version != "1.3":
        raise ValueError(f"unknown CSIP-AUS version {csipaus_version!r}; use 1.2 or 1.3")
    return data


EMPTY_CONTROL_BASE = b"<DERControlBase/>"


def _with_control_base(data: bytes) -> bytes:
    """A DefaultDERControl's DERControlBase is mandatory even when it sets no limit (setGradW alone);
    skip_empty drops an empty one, so it goes back in its place, after the IdentifiedObject elements."""
    if b"<DERControlBase" in data:
        return data
    for marker in (b"</version>", b"</description>", b"</mRID>"):
        at = data.find(marker)
        if at >= 0:
            at += len(marker)
            return data[:at] + EMPTY_CONTROL_BASE + data[at:]
    return data
