"""NodeId and StatusCode from plain numbers and strings.

asyncua annotates node identifiers, namespace indexes and status codes with its
own int and str subclasses (ua.Int32, ua.String, ua.Int16, ua.UInt32), yet takes
plain values and passes them itself: ua.ObjectIds and ua.StatusCodes are plain
ints. These two constructors say so once, so the rest of the package is checked.
"""

from __future__ import annotations

import uuid

from asyncua import ua


def ua_node_id(identifier: int | str | uuid.UUID | bytes, namespace: int = 0) -> ua.NodeId:
    """A numeric, string, GUID or opaque NodeId in `namespace`."""
    return ua.NodeId(identifier, namespace)  # type: ignore[arg-type]  # plain values: see the module docstring


def ua_status(code: int) -> ua.StatusCode:
    """A StatusCode from one of ua.StatusCodes."""
    return ua.StatusCode(code)  # type: ignore[arg-type]  # a plain int: see the module docstring
