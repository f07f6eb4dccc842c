"""A stdio MCP server for the vault tests: tells whether an environment variable reached it,
by length and SHA-256 digest, so the value itself never travels back over MCP."""

import hashlib
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("env-probe")


@server.tool()
def env_digest(name: str) -> str:
    """`<length>:<sha256 hex>` of environment variable `name`, or `unset`."""
    value = os.environ.get(name)
    if value is None:
        return "unset"
    return f"{len(value)}:{hashlib.sha256(value.encode()).hexdigest()}"


if __name__ == "__main__":
    server.run()
