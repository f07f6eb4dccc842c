#!/usr/bin/env python3
"""A scripted browser for OAuth end-to-end tests, used as `$BROWSER URL` in place of xdg-open.

It plays the user: follows the authorization server's real redirects, posts its real login and
consent forms (a form with a `login` field gets a user name and password; a form with
`prompt=consent` is submitted, or cancelled in `deny` mode), and finally GETs the loopback
redirect URI (`http://127.0.0.1:<port>/callback?...`) so that the client's listener receives it.
Like xdg-open it returns at once: the work continues in a detached child (bounded in time), unless
PATCHBAY_BROWSER_FOREGROUND=1.

Standard library only, so any python3 can run it. Environment:

  PATCHBAY_BROWSER_LOG         JSONL file this browser appends to (required for assertions):
                                 {"event": "invoked", "url": ..., "pid": ...}
                                 {"event": "done", "outcome": ..., "steps": [...], "callback": {...}}
                               outcomes: called_back, denied, no_callback, refused, error
                               the authorization `code` is never logged, only its fingerprint
  PATCHBAY_BROWSER_MODE        normal (default) | deny (cancel at consent; the provider then
                               redirects with error=access_denied, which is delivered) |
                               no-callback (do everything but never call the redirect URI) |
                               ignore (do nothing at all, like a browser the user closed)
  PATCHBAY_BROWSER_TAMPER_STATE  when set, the callback's `state` is replaced by this value
  PATCHBAY_BROWSER_TAMPER_ISS    when set, the callback's `iss` is replaced (or added) with this
  PATCHBAY_BROWSER_DROP_ISS      when 1, the callback's `iss` is removed
  PATCHBAY_BROWSER_USER        the login name typed in (default "alice")
  PATCHBAY_BROWSER_TIMEOUT     seconds for the whole run (default 30)
  PATCHBAY_BROWSER_FOREGROUND  1: do the work before returning (for in-process use)

Exit status: 0 once the URL was accepted (like xdg-open); 2 for a URL that is not http(s), which
a real opener would hand to some other program: the caller must never pass one.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

MAX_STEPS = 20
BODY_LOG_LIMIT = 2000


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def redact(url: str) -> str:
    """The URL with the authorization code replaced by its fingerprint."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, f"REDACTED-{fingerprint(v)}" if k == "code" else v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def log(event: dict[str, Any]) -> None:
    path = os.environ.get("PATCHBAY_BROWSER_LOG")
    if not path:
        return
    event = {"t": time.time(), **event}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


class _Forms(html.parser.HTMLParser):
    """The forms and links of a page: [{"action", "method", "fields": {name: value}}], [href]."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["fields"][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect, urllib.request.ProxyHandler({})
        )
        self.steps: list[dict[str, Any]] = []

    def request(self, method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("browser run timed out")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": "patchbay-test-browser"})
        try:
            with self.opener.open(req, timeout=remaining) as resp:
                status, headers, body = resp.status, dict(resp.headers), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, dict(e.headers), e.read().decode(errors="replace")
        headers = {k.lower(): v for k, v in headers.items()}
        self.steps.append({"method": method, "url": redact(url), "status": status})
        return status, headers, body


def _is_callback(url: str, redirect_uri: str | None) -> bool:
    if redirect_uri:
        return url.split("?", 1)[0].split("#", 1)[0] == redirect_uri.split("?", 1)[0]
    parts = urllib.parse.urlsplit(url)
    return parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.path.endswith("/callback")


def _tamper(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    state = os.environ.get("PATCHBAY_BROWSER_TAMPER_STATE")
    iss = os.environ.get("PATCHBAY_BROWSER_TAMPER_ISS")
    if state:
        query = [(k, state if k == "state" else v) for k, v in query]
    if os.environ.get("PATCHBAY_BROWSER_DROP_ISS") == "1":
        query = [(k, v) for k, v in query if k != "iss"]
    if iss:
        query = [(k, v) for k, v in query if k != "iss"] + [("iss", iss)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def run(url: str) -> dict[str, Any]:
    """Drive one authorization from `url` to the callback; returns the "done" log record."""
    mode = os.environ.get("PATCHBAY_BROWSER_MODE", "normal")
    user = os.environ.get("PATCHBAY_BROWSER_USER", "alice")
    browser = Browser(float(os.environ.get("PATCHBAY_BROWSER_TIMEOUT", "30")))
    redirect_uri = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get("redirect_uri")
    result: dict[str, Any] = {"event": "done", "auth_url": redact(url), "mode": mode, "steps": browser.steps}
    method, target, form = "GET", url, None
    denied = False
    try:
        for _ in range(MAX_STEPS):
            if _is_callback(target, redirect_uri):
                break
            status, headers, body = browser.request(method, target, form)
            if status in (301, 302, 303, 307, 308) and "location" in headers:
                target = urllib.parse.urljoin(target, headers["location"])
                method, form = ("GET", None) if status != 307 and status != 308 else (method, form)
                continue
            page = _Forms()
            page.feed(body)
            login = next((f for f in page.forms if "login" in f["fields"]), None)
            consent = next((f for f in page.forms if f["fields"].get("prompt") == "consent"), None)
            if login is not None:
                fields = {**login["fields"], "login": user, "password": "correct horse"}
                method, target, form = "POST", urllib.parse.urljoin(target, login["action"]), fields
            elif consent is not None and mode == "deny":
                abort = next((link for link in page.links if "/abort" in link), None)
                if abort is None:
                    raise RuntimeError("consent page without a cancel link")
                denied = True
                method, target, form = "GET", urllib.parse.urljoin(target, abort), None
            elif consent is not None:
                method, target, form = "POST", urllib.parse.urljoin(target, consent["action"]), consent["fields"]
            else:
                result.update(outcome="error", error=f"page without a known form (HTTP {status})", body=body[:BODY_LOG_LIMIT])
                return result
        else:
            result.update(outcome="error", error=f"no callback after {MAX_STEPS} steps")
            return result

        callback = _tamper(target)
        result["callback"] = {"url": redact(callback), "query": dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redact(callback)).query))}
        if mode == "no-callback":
            result["outcome"] = "no_callback"
            return result
        status, _headers, body = browser.request("GET", callback)
        result["callback"].update(status=status, body=body[:BODY_LOG_LIMIT])
        result["outcome"] = "denied" if denied else "called_back"
    except Exception as e:  # the log is the report; a browser does not crash its caller
        result.update(outcome="error", error=f"{type(e).__name__}: {e}")
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: browser.py URL", file=sys.stderr)
        return 2
    url = argv[1]
    mode = os.environ.get("PATCHBAY_BROWSER_MODE", "normal")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    log({"event": "invoked", "url": redact(url), "pid": os.getpid(), "mode": mode})
    if scheme not in ("http", "https"):
        log({"event": "done", "auth_url": redact(url), "outcome": "refused", "error": f"not an http(s) URL: {scheme}"})
        return 2
    if mode == "ignore":
        log({"event": "done", "auth_url": redact(url), "outcome": "no_callback", "steps": []})
        return 0
    if os.environ.get("PATCHBAY_BROWSER_FOREGROUND") == "1":
        log(run(url))
        return 0
    if os.fork() != 0:
        return 0
    # The detached child: own session, no inherited pipes, so the caller never waits on it.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        log({"event": "worker", "pid": os.getpid()})
        log(run(url))
    finally:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
