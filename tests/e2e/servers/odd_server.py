"""A stdio MCP server whose answers are outside the protocol model the hub is built on: plain
JSON-RPC on stdin/stdout, no SDK (an SDK would refuse to send them).

Its tool `hologram` answers with a content type no revision defines, a field no revision
defines, and structured content and `_meta` in a member order that is not sorted; `slow_hologram`
answers the same after 0.6 s, and first reports progress when the call asks for it. Its prompt
`hologram` has a message of that content type, and its resource `odd://hologram` contents of a
kind that is neither text nor blob. Its tool `extras` answers with what the model does read (text
content) and fields it does not (a member of the text content, a result member of its own, and
`execution`): a hub that reads answers into a model loses those unless it keeps the answer. The answers are printed by `--print-answer`, so a
test compares what a client gets with what this server sent, from one source.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ANSWER: dict[str, object] = {
    "content": [{"type": "hologram", "frames": [3, 1, 2], "annotations": {"audience": ["user"]}}],
    "structuredContent": {"zeta": 1, "alpha": {"y": True, "b": None}},
    "isError": False,
    "_meta": {"z.example/trace": "t-1", "a.example/cost": 0.25},
    "hologramVersion": "7",
}
EXTRAS: dict[str, object] = {
    "content": [{"type": "text", "text": "plain words", "lang": "en"}],
    "isError": False,
    "execution": {"taskSupport": "optional"},
    "hologramVersion": "7",
}
PROMPT: dict[str, object] = {
    "description": "a prompt of a kind no client knows yet",
    "messages": [{"role": "user", "content": {"type": "hologram", "frames": [1]}}],
}
RESOURCE: dict[str, object] = {
    "contents": [{"uri": "odd://hologram", "hologram": {"frames": [2, 1]}, "mimeType": "model/hologram"}],
}
TOOL_SCHEMA = {"type": "object", "properties": {}}


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def answer(request_id: object, result: dict[str, object]) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": result})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--print-answer", choices=["tool", "extras", "prompt", "resource"])
    options = parser.parse_args()
    if options.print_answer:
        print(json.dumps({"tool": ANSWER, "extras": EXTRAS, "prompt": PROMPT, "resource": RESOURCE}[options.print_answer]))
        return 0
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None or method is None:
            continue
        params = message.get("params") or {}
        if method == "initialize":
            answer(request_id, {
                "protocolVersion": params["protocolVersion"],
                "capabilities": {"tools": {}, "prompts": {}, "resources": {}},
                "serverInfo": {"name": "odd-server", "version": "1.0.0"},
            })
        elif method == "tools/list":
            answer(request_id, {"tools": [
                {"name": "hologram", "description": "answers at once", "inputSchema": TOOL_SCHEMA},
                {"name": "slow_hologram", "description": "answers after 0.6 s", "inputSchema": TOOL_SCHEMA},
                {"name": "extras", "description": "text, and fields of its own", "inputSchema": TOOL_SCHEMA},
            ]})
        elif method == "prompts/list":
            answer(request_id, {"prompts": [{"name": "hologram", "description": "odd"}]})
        elif method == "tools/call":
            if params.get("name") == "slow_hologram":
                token = (params.get("_meta") or {}).get("progressToken")
                if token is not None:
                    send({"jsonrpc": "2.0", "method": "notifications/progress",
                          "params": {"progressToken": token, "progress": 1, "total": 2}})
                time.sleep(0.6)
            answer(request_id, EXTRAS if params.get("name") == "extras" else ANSWER)
        elif method == "prompts/get":
            answer(request_id, PROMPT)
        elif method == "resources/list":
            answer(request_id, {"resources": [{"uri": "odd://hologram", "name": "hologram"}]})
        elif method == "resources/templates/list":
            answer(request_id, {"resourceTemplates": []})
        elif method == "resources/read":
            answer(request_id, RESOURCE)
        elif method == "ping":
            answer(request_id, {})
        else:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": f"no {method}"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
