"""A stateless 2026-07-28 client's `subscriptions/listen` stream through the hub: told when the
catalogue's tool list changes (here: a config edit adds a server), by the Python SDK's client."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from mcp.client.subscriptions import listen
from mcp.shared.subscriptions import ToolsListChanged
from patchbay_harness import Hub, Sandbox, everything_cmd, mcp_session, time_cmd, wait_server_running

pytestmark = pytest.mark.anyio


async def test_listen_hears_tools_list_changed_after_a_config_edit_adds_a_server(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    async with mcp_session(hub.url, hub.secret, mode="discover") as session:
        before = {tool.name for tool in (await session.list_tools()).tools}
        assert not any(name.startswith("time__") for name in before), sorted(before)
        async with listen(session, tools_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed, f"the hub takes the tools list: {subscription.honored}"
            with anyio.fail_after(30):
                await anyio.to_thread.run_sync(lambda: sandbox.add_server("time", time_cmd()))
                event = await subscription.__anext__()
            assert isinstance(event, ToolsListChanged), event
        with anyio.fail_after(30):
            while not any(n.startswith("time__") for n in {t.name for t in (await session.list_tools()).tools}):
                await anyio.sleep(0.1)
