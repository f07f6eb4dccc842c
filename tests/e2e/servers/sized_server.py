"""A minimal stdio MCP server for the many-servers tests: plain JSON-RPC on stdin/stdout, no SDK,
so twenty of them start in milliseconds each and only the behaviour asked for costs time.

    sized_server.py --tools N [--delay SECONDS] [--mode ok|hang|crash]

`--delay` sleeps before reading the first message (a slow start); `hang` reads `initialize`
and never answers it; `crash` writes to stderr and exits 3 before answering anything. Tools are
`tool_00`.. and each answers with its own name and the arguments it got.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def tools(count: int) -> list[dict[str, object]]:
    return [
        {
            "name": f"tool_{i:02}",
            "description": f"sized test tool {i}",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        }
        for i in range(count)
    ]


def answer(request_id: object, result: dict[str, object]) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--mode", choices=["ok", "hang", "crash"], default="ok")
    options = parser.parse_args()
    if options.mode == "crash":
        print("sized_server: crashing on purpose", file=sys.stderr, flush=True)
        return 3
    time.sleep(options.delay)
    listed = tools(options.tools)
    for line in sys.stdin:
        message = json.loads(line)
        method = message.get("method")
        if "id" not in message or method is None:
            continue  # notifications and answers to our (no) requests
        if options.mode == "hang":
            continue
        if method == "initialize":
            answer(
                message["id"],
                {
                    "protocolVersion": message["params"]["protocolVersion"],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "sized-server", "version": "1.0.0"},
                },
            )
        elif method == "tools/list":
            answer(message["id"], {"tools": listed})
        elif method == "tools/call":
            params = message["params"]
            text = json.dumps({"tool": params["name"], "arguments": params.get("arguments", {})})
            answer(message["id"], {"content": [{"type": "text", "text": text}]})
        elif method == "ping":
            answer(message["id"], {})
        else:
            error = {"code": -32601, "message": f"method not found: {method}"}
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
