"""A stand-in for the MCP Registry on 127.0.0.1, for the catalogue tests: the public registry
cannot be reached from the test machines. It serves the records in RECORDS.json (a list of
`ServerResponse` objects, as the registry's published API schema v0.1 defines them) the way
the registry's API does:

- `GET /v0.1/servers?limit=&cursor=&search=&version=latest`: pages of at most `--page-size`
  records (small, so that clients must follow `metadata.nextCursor`), `search` a
  case-insensitive substring of the name, `version=latest` only records marked `isLatest`;
- `GET /v0.1/servers/{name}/versions/{version}`: one record (`latest`: the one marked so),
  or 404 with an error body.

- `GET /files/NAME`: the file NAME of `--files DIR` (a package's download, an `.mcpb` bundle);
  `{self}` in the records stands for this registry's own `http://127.0.0.1:PORT`.

Every request is appended to `--log`. Usage: registry.py RECORDS.json --port-file FILE
[--page-size N] [--log FILE] [--files DIR]. It picks a free port and writes it to the port
file."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OFFICIAL = "io.modelcontextprotocol.registry/official"


def is_latest(record: dict[str, Any]) -> bool:
    return bool(record.get("_meta", {}).get(OFFICIAL, {}).get("isLatest"))


class Registry(BaseHTTPRequestHandler):
    records: list[dict[str, Any]] = []
    page_size = 2
    log: Path | None = None
    files: Path | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.log is not None:
            with self.log.open("a") as out:
                out.write(self.path + "\n")

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.split("/")
        if url.path == "/v0.1/servers":
            return self.list_servers(query)
        if len(parts) == 3 and parts[1] == "files" and self.files is not None and (self.files / parts[2]).is_file():
            data = (self.files / parts[2]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        # /v0.1/servers/{name}/versions/{version}, the name one (encoded) segment
        if len(parts) == 6 and parts[1:3] == ["v0.1", "servers"] and parts[4] == "versions":
            return self.one(urllib.parse.unquote(parts[3]), urllib.parse.unquote(parts[5]))
        self.answer(404, {"title": "Not Found", "status": 404, "detail": f"no route {url.path}"})

    def list_servers(self, query: dict[str, str]) -> None:
        chosen = self.records
        if query.get("version") == "latest":
            chosen = [r for r in chosen if is_latest(r)]
        if term := query.get("search", "").lower():
            chosen = [r for r in chosen if term in r["server"]["name"].lower()]
        start = int(query.get("cursor") or 0)
        size = min(int(query.get("limit") or 30), self.page_size)
        page = chosen[start : start + size]
        metadata: dict[str, Any] = {"count": len(page)}
        if start + size < len(chosen):
            metadata["nextCursor"] = str(start + size)
        self.answer(200, {"servers": page, "metadata": metadata})

    def one(self, name: str, version: str) -> None:
        for record in self.records:
            server = record["server"]
            if server["name"] == name and (server["version"] == version or (version == "latest" and is_latest(record))):
                return self.answer(200, record)
        self.answer(404, {"title": "Not Found", "status": 404, "detail": "Server not found"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", type=Path)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--files", type=Path)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    here = f"http://127.0.0.1:{server.server_address[1]}"
    Registry.records = json.loads(args.records.read_text().replace("{self}", here))
    Registry.page_size = args.page_size
    Registry.log = args.log
    Registry.files = args.files
    args.port_file.write_text(str(server.server_address[1]))
    print(f"registry on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
