"""A remote MCP server for the tests: the Python SDK's MCPServer over Streamable HTTP on
127.0.0.1, with no sign-in. Usage: remote_demo.py PORT [NAME]."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
name = sys.argv[2] if len(sys.argv) > 2 else "remote-demo"
server = MCPServer(name)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def served_by() -> str:
    """Which server instance answered (its name and port)."""
    return f"{name}:{port}"


server.run(transport="streamable-http", host="127.0.0.1", port=port)
