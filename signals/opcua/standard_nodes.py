"""OPC UA's standard nodes for a new server, unpickled one by one as the server touches them.

asyncua fills its ~6,000 standard nodes from generated code at every `Server.init()`: 1-2 s of CPU, paid by
each bench run, test server and device server. Filled once, each node is pickled on its own into a file in
the user's cache folder (named by asyncua's and Python's versions, written atomically); a later server loads
the file's bytes and unpickles a node only when asked for it, a few dozen for a bench's server.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import tempfile
import zlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import asyncua
from asyncua import Server

log = logging.getLogger(__name__)


def cache_file() -> Path:
    """Where the pickled standard nodes are kept: the cache folder, by asyncua and Python version."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = f"asyncua-{asyncua.__version__}-py{sys.version_info.major}{sys.version_info.minor}"
    return root / "flexbench" / f"opcua-standard-nodes-{tag}.pickle.z"


class LazyNodes(MutableMapping[Any, Any]):
    """asyncua's node table (NodeId -> NodeData): the standard nodes stay pickled until first read; nodes the
    server adds or changes live in a plain dict."""

    def __init__(self, packed: dict[Any, bytes]) -> None:
        self._packed = packed
        self._live: dict[Any, Any] = {}

    def __getitem__(self, node_id: Any) -> Any:
        try:
            return self._live[node_id]
        except KeyError:
            node = self._live[node_id] = pickle.loads(self._packed[node_id])
            return node

    def __setitem__(self, node_id: Any, node: Any) -> None:
        self._live[node_id] = node

    def __delitem__(self, node_id: Any) -> None:
        found = self._live.pop(node_id, None) is not None
        if self._packed.pop(node_id, None) is None and not found:
            raise KeyError(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._live or node_id in self._packed

    def __iter__(self) -> Iterator[Any]:
        yield from self._live
        yield from (k for k in self._packed if k not in self._live)

    def __len__(self) -> int:
        return len(self._packed) + sum(1 for k in self._live if k not in self._packed)


def _load(path: Path) -> dict[Any, bytes] | None:
    try:
        packed = pickle.loads(zlib.decompress(path.read_bytes()))
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or foreign file: filled anew and written again
        log.warning("ignoring %s: %s", path, exc)
        return None
    return packed if isinstance(packed, dict) else None


def _store(path: Path, nodes: MutableMapping[Any, Any]) -> None:
    try:
        packed = {node_id: pickle.dumps(node, pickle.HIGHEST_PROTOCOL) for node_id, node in nodes.items()}
        data = zlib.compress(pickle.dumps(packed, pickle.HIGHEST_PROTOCOL), 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except Exception as exc:  # a read-only home, a full disk: servers fill their nodes as asyncua does
        log.warning("cannot keep OPC UA standard nodes in %s: %s", path, exc)


def use_cached_standard_nodes(server: Server) -> None:
    """Make `server.init()` take its standard nodes from the cache file (filling and writing it if absent)."""
    internal = server.iserver
    fill = internal.load_standard_address_space

    async def load(shelf_file: Path | None = None) -> None:
        path = cache_file()
        packed = _load(path)
        if packed is None:
            await fill(shelf_file)
            _store(path, internal.aspace._nodes)
            return
        internal.aspace._nodes = LazyNodes(packed)  # type: ignore[assignment]

    internal.load_standard_address_space = load  # type: ignore[method-assign]
