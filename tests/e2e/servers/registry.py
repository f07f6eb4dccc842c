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

Lists carry an `ETag` (a digest of the records, read again from RECORDS.json at each request,
so a test can change them) and answer `304 Not Modified` to a matching `If-None-Match`.
Every request is appended to `--log` as its path and status. Usage: registry.py RECORDS.json --port-file FILE
[--page-size N] [--log FILE] [--files DIR]. It picks a free port and writes it to the port
file."""

from __future__ import annotations

import argparse
import hashlib
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
    records_file: Path
    here = ""
    page_size = 2
    log: Path | None = None
    files: Path | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return json.loads(self.records_file.read_text().replace("{self}", self.here))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.log is not None:
            with self.log.open("a") as out:
                out.write(f"{self.path} {code}\n")

    def answer(self, status: int, body: Any, etag: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        if etag is not None:
            self.send_header("ETag", etag)
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
        records = self.records
        etag = '"' + hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        chosen = records
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
        self.answer(200, {"servers": page, "metadata": metadata}, etag)

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
    Registry.here = f"http://127.0.0.1:{server.server_address[1]}"
    Registry.records_file = args.records
    Registry.page_size = args.page_size
    Registry.log = args.log
    Registry.files = args.files
    args.port_file.write_text(str(server.server_address[1]))
    print(f"registry on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
