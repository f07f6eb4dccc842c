"""A stdio MCP server on the official Python SDK (MCPServer) whose tools are read from a JSON file
at each start (`{"name": "description", ...}`), so a test can change what its tools say between
starts, as a server that rewrites its tool descriptions would. Each tool answers `NAME: TEXT`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer


def answering(name: str) -> Any:
    def tool(text: str) -> str:
        return f"{name}: {text}"

    return tool


def main() -> None:
    tools: dict[str, str] = json.loads(Path(sys.argv[1]).read_text())
    server = MCPServer("shifty")
    for name, description in tools.items():
        server.add_tool(answering(name), name=name, description=description)
    server.run()


if __name__ == "__main__":
    main()
