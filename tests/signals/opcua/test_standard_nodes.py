"""A server whose standard nodes come from the cache file holds the same nodes as one asyncua filled itself."""

from __future__ import annotations

import asyncio

from asyncua import Client, Server, ua

from flexbench.signals.opcua.standard_nodes import LazyNodes, cache_file, use_cached_standard_nodes


async def _server(cached: bool) -> Server:
    server = Server()
    if cached:
        use_cached_standard_nodes(server)
    await server.init()
    return server


def _same(a: object, b: object) -> bool:
    """Nodes compared by what a client can read of them: attributes' values and references."""
    attrs_a = {k: v.value.Value for k, v in a.attributes.items()}  # type: ignore[attr-defined]
    attrs_b = {k: v.value.Value for k, v in b.attributes.items()}  # type: ignore[attr-defined]
    return attrs_a == attrs_b and a.references == b.references  # type: ignore[attr-defined]


def test_cached_standard_nodes_equal_filled_ones_and_load_lazily(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    async def main() -> None:
        filled = await _server(cached=False)
        writer = await _server(cached=True)  # no file yet: fills, then writes it
        assert cache_file().is_file() and str(cache_file()).startswith(str(tmp_path))
        assert not isinstance(writer.iserver.aspace._nodes, LazyNodes)
        reader = await _server(cached=True)
        nodes = reader.iserver.aspace._nodes
        assert isinstance(nodes, LazyNodes)
        assert len(nodes._live) < 100  # init touched a few nodes, not the ~6,000
        expected = filled.iserver.aspace._nodes
        assert set(nodes) == set(expected) and len(nodes) == len(expected)
        started = {  # stamped with each server's start time
            ua.NodeId(i)
            for i in (
                ua.ObjectIds.Server_ServerStatus,
                ua.ObjectIds.Server_ServerStatus_BuildInfo,
                ua.ObjectIds.Server_ServerStatus_BuildInfo_BuildDate,
            )
        }
        different = [n for n in expected if n not in started and not _same(expected[n], nodes[n])]
        assert not different, different[:5]

        # and it serves them: a client browses the Server object and reads the namespace array
        reader.set_endpoint("opc.tcp://127.0.0.1:0")
        reader.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        await reader.start()
        try:
            port = reader.bserver._server.sockets[0].getsockname()[1]
            async with Client(f"opc.tcp://127.0.0.1:{port}") as client:
                assert "http://opcfoundation.org/UA/" in await client.get_namespace_array()
                names = {(await c.read_browse_name()).Name for c in await client.nodes.server.get_children()}
                assert {"ServerStatus", "NamespaceArray", "ServerCapabilities"} <= names
        finally:
            await reader.stop()

    asyncio.run(main())


def test_a_damaged_cache_file_is_filled_anew_and_written_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache_file().parent.mkdir(parents=True)
    cache_file().write_bytes(b"not a cache")

    async def main() -> None:
        server = await _server(cached=True)
        assert not isinstance(server.iserver.aspace._nodes, LazyNodes)
        assert len(server.iserver.aspace._nodes) > 5000
        again = await _server(cached=True)
        assert isinstance(again.iserver.aspace._nodes, LazyNodes)

    asyncio.run(main())
