"""The OAuth test bed is real: an independent client (the Python SDK's OAuth client, and a
hand-driven flow where raw tokens are needed) signs in through it and uses the protected server.

No patchbay binary is needed here.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, OAuthFlowError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from oauth_bed import (
    AuthServer,
    CallbackListener,
    ResourceServer,
    ScriptedBrowser,
    authorize_by_hand,
    fingerprint,
    pkce_pair,
    register_client,
)
from patchbay_harness import _unwrapped_errors

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bed", "version": "0"}},
}


class MemoryStorage:
    """The SDK client's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@asynccontextmanager
async def sdk_session(
    url: str, browser: ScriptedBrowser, storage: MemoryStorage | None = None
) -> AsyncIterator[tuple[ClientSession, OAuthClientProvider, MemoryStorage]]:
    """An SDK ClientSession whose HTTP client signs in with the SDK's OAuth provider; the
    scripted browser runs detached, as xdg-open would start a real one."""
    storage = storage or MemoryStorage()
    with CallbackListener() as listener:

        async def open_browser(authorization_url: str) -> None:
            result = await anyio.to_thread.run_sync(browser.open, authorization_url)
            assert result.returncode == 0, f"browser refused {authorization_url}: {result.stderr}"

        async def wait_callback() -> AuthorizationCodeResult:
            query = await anyio.to_thread.run_sync(listener.next, 30.0)
            if "error" in query:
                raise OAuthFlowError(f"authorization failed: {query}")
            return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

        provider = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="oauth bed self-test (Python SDK)",
                redirect_uris=[listener.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=open_browser,
            callback_handler=wait_callback,
        )
        timeout = httpx2.Timeout(20.0, read=40.0)
        with _unwrapped_errors():
            async with (
                httpx2.AsyncClient(auth=provider, timeout=timeout) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write, read_timeout_seconds=30.0) as session,
            ):
                with anyio.fail_after(60):
                    await session.initialize()
                yield session, provider, storage


def text_of(result: Any) -> str:
    assert not result.is_error, f"tool call failed: {result}"
    return "".join(getattr(c, "text", "") for c in result.content)


# --- the parts, one by one -------------------------------------------------------------------


def test_unauthenticated_request_gets_the_challenge_and_metadata(
    protected_mcp: ResourceServer, authz_server: AuthServer
) -> None:
    response = httpx2.post(protected_mcp.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=10.0)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert f'resource_metadata="{protected_mcp.prm_url}"' in challenge, challenge
    assert 'scope="mcp:tools"' in challenge, challenge

    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        prm = httpx2.get(protected_mcp.origin + path, timeout=5.0).json()
        assert prm["resource"] == protected_mcp.url, prm
        assert prm["authorization_servers"] == [authz_server.issuer], prm

    rfc8414 = httpx2.get(f"{authz_server.origin}/.well-known/oauth-authorization-server", timeout=5.0).json()
    oidc = authz_server.metadata()
    assert rfc8414 == oidc, "both discovery documents must say the same"
    assert oidc["issuer"] == authz_server.issuer
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["authorization_response_iss_parameter_supported"] is True
    for endpoint in ("registration_endpoint", "revocation_endpoint", "introspection_endpoint", "token_endpoint"):
        assert oidc.get(endpoint, "").startswith(authz_server.issuer), f"{endpoint} missing: {oidc}"
    assert "none" in oidc["token_endpoint_auth_methods_supported"]
    assert protected_mcp.requests("missing"), "the resource server logs the unauthenticated request"


@pytest.mark.anyio
async def test_sdk_client_discovers_registers_signs_in_and_calls_tools(
    protected_mcp: ResourceServer, authz_server: AuthServer, scripted_browser: ScriptedBrowser
) -> None:
    async with sdk_session(protected_mcp.url, scripted_browser) as (session, _provider, storage):
        tools = {t.name for t in (await session.list_tools()).tools}
        assert {"whoami", "echo", "add", "admin_report"} <= tools
        who = json.loads(text_of(await session.call_tool("whoami", {})))
        assert text_of(await session.call_tool("echo", {"text": "hi"})) == "hi"

    assert who["sub"] == "alice"
    assert who["aud"] == protected_mcp.url
    assert who["scopes"] == ["mcp:tools"], "the challenge's scope is what the client asked for"
    assert storage.tokens is not None and storage.tokens.refresh_token, "a refresh token was issued"

    [registration] = authz_server.events("registration")
    assert registration["token_endpoint_auth_method"] == "none"
    [authorization] = authz_server.events("authorization")
    assert authorization["code_challenge_method"] == "S256"
    assert authorization["resource"] == protected_mcp.url
    [exchange] = authz_server.token_events("authorization_code")
    assert exchange["status"] == 200 and exchange["has_code_verifier"] and exchange["resource"] == protected_mcp.url
    assert exchange["refresh_fp"] == fingerprint(storage.tokens.refresh_token)

    [run] = scripted_browser.done()
    assert run["outcome"] == "called_back", run
    assert run["callback"]["query"]["iss"] == authz_server.issuer
    assert run["callback"]["status"] == 200
    assert "code=REDACTED-" in run["callback"]["url"], "the browser log never holds the code"
    assert len(protected_mcp.tool_calls()) == 2


@pytest.mark.anyio
async def test_expired_access_token_is_refreshed_once_with_rotation(
    start_authz_server: Callable[..., AuthServer],
    start_resource_server: Callable[..., ResourceServer],
    scripted_browser: ScriptedBrowser,
) -> None:
    authz = start_authz_server(access_token_ttl=3, wait=False)
    mcp = start_resource_server(authz=authz, challenge_scope="mcp:tools", wait=False)
    authz.wait_ready(), mcp.wait_ready()
    async with sdk_session(mcp.url, scripted_browser) as (session, _provider, storage):
        assert storage.tokens is not None
        first_refresh = storage.tokens.refresh_token
        authz.control(access_token_ttl=120)  # the refreshed token outlives the burst of calls
        await anyio.sleep(3.5)  # past the first access token's 3 s
        before = len(authz.refreshes(ok=None))
        results: list[str] = []

        async def call(i: int) -> None:
            results.append(text_of(await session.call_tool("echo", {"text": str(i)})))

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(call, i)
        assert sorted(results, key=int) == [str(i) for i in range(50)]

    refreshes = authz.refreshes(ok=None)[before:]
    assert len(refreshes) == 1, f"exactly one refresh while 50 calls ran: {refreshes}"
    [refresh] = refreshes
    assert refresh["status"] == 200 and refresh["presented_fp"] == fingerprint(first_refresh)
    assert refresh["refresh_fp"] != refresh["presented_fp"], "a refresh rotates the refresh token"
    assert refresh["resource"] == mcp.url, "the SDK sends `resource` on the refresh too"
    assert authz.events("refresh_token_consumed", fp=fingerprint(first_refresh)), "the old one is consumed"
    assert len(mcp.tool_calls("echo")) == 50


def test_revoked_refresh_token_is_rejected(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser, oauth_bed_dir: Path
) -> None:
    client, response = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url)
    assert response.status_code == 200, response.text
    tokens = response.json()
    meta = authz_server.metadata()

    revoke = httpx2.post(
        meta["revocation_endpoint"],
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": client["client_id"]},
        timeout=10.0,
    )
    assert revoke.status_code == 200, revoke.text
    [revocation] = authz_server.events("revocation")
    assert revocation["fp"] == fingerprint(tokens["refresh_token"]) and revocation["status"] == 200

    refresh = httpx2.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
            "resource": protected_mcp.url,
        },
        timeout=10.0,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant", refresh.text
    [rejected] = authz_server.refreshes(ok=False)
    assert rejected["presented_fp"] == fingerprint(tokens["refresh_token"]) and rejected["error"] == "invalid_grant"

    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
    httpx2.post(protected_mcp.url, json=INITIALIZE, headers=headers, timeout=10.0)
    for path in oauth_bed_dir.iterdir():
        text = path.read_text(errors="replace")
        for kind in ("access_token", "refresh_token"):
            assert tokens[kind] not in text, f"the {kind} value leaked into {path.name}"


def test_token_for_another_resource_is_rejected(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    def initialize(token: str) -> httpx2.Response:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        return httpx2.post(protected_mcp.url, json=INITIALIZE, headers=headers, timeout=10.0)

    client, other = authorize_by_hand(authz_server, scripted_browser, "http://127.0.0.1:9/other-mcp")
    assert other.status_code == 200, other.text
    rejected = initialize(other.json()["access_token"])
    assert rejected.status_code == 401
    assert 'error="invalid_token"' in rejected.headers["www-authenticate"]
    assert protected_mcp.requests("wrong_audience")

    _, mine = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url, client=client)
    accepted = initialize(mine.json()["access_token"])
    assert accepted.status_code == 200, "the same client with a token for this server gets in"

    _, none = authorize_by_hand(authz_server, scripted_browser, None, client=client)
    if none.status_code == 200:
        assert initialize(none.json()["access_token"]).status_code == 401, "a token without audience is refused"


@pytest.mark.anyio
async def test_insufficient_scope_gives_403_and_the_sdk_steps_up(
    protected_mcp: ResourceServer, authz_server: AuthServer, scripted_browser: ScriptedBrowser
) -> None:
    async with sdk_session(protected_mcp.url, scripted_browser) as (session, _provider, storage):
        report = text_of(await session.call_tool("admin_report", {}))
        assert storage.tokens is not None
        granted = set((storage.tokens.scope or "").split())

    assert report.startswith("admin report")
    [denied] = protected_mcp.requests("insufficient_scope")
    assert denied["status"] == 403 and denied["tool"] == "admin_report"
    first, second = (set(a["scope"].split()) for a in authz_server.events("authorization"))
    assert "mcp:tools" in first and "mcp:admin" not in first, "first sign-in: the challenge's scope"
    assert {"mcp:tools", "mcp:admin"} <= second, "step-up: the union of old and challenged scopes"
    assert granted == {"mcp:tools", "mcp:admin"}
    assert len(scripted_browser.done()) == 2, "the step-up went through the browser again"


def test_403_challenge_names_the_wider_scope(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    _, response = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url, scope="mcp:tools")
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {response.json()['access_token']}"}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "admin_report", "arguments": {}}}
    denied = httpx2.post(protected_mcp.url, json=call, headers=headers, timeout=10.0)
    assert denied.status_code == 403
    challenge = denied.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp:admin mcp:tools"' in challenge, challenge


# --- adversarial switches --------------------------------------------------------------------


def test_switches_change_metadata_iss_and_token_answers(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    authz_server.control(pkce_metadata="absent")
    assert "code_challenge_methods_supported" not in authz_server.metadata()
    authz_server.control(pkce_metadata="plain")
    assert authz_server.metadata()["code_challenge_methods_supported"] == ["plain"]
    authz_server.control(reset=True)
    assert authz_server.metadata()["code_challenge_methods_supported"] == ["S256"]

    authz_server.control(wrong_iss="http://127.0.0.1:1/evil")
    authz_server.fail_token_requests(1, "server_error")
    _, failed = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url)
    assert failed.status_code == 500
    assert scripted_browser.done()[-1]["callback"]["query"]["iss"] == "http://127.0.0.1:1/evil"

    authz_server.control(reset=True)
    authz_server.fail_token_requests(1, "invalid_grant", grant_type="authorization_code")
    client, rejected = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url)
    assert rejected.status_code == 400 and rejected.json()["error"] == "invalid_grant"
    _, ok = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url, client=client)
    assert ok.status_code == 200, "failures stop after the count"
    injected = [e for e in authz_server.token_events() if e.get("injected")]
    assert [(e["status"], e["error"]) for e in injected] == [(500, "server_error"), (400, "invalid_grant")]

    meta = authz_server.control(metadata_omit=["revocation_endpoint", "registration_endpoint"]) and authz_server.metadata()
    assert "revocation_endpoint" not in meta and "registration_endpoint" not in meta
    authz_server.control(reset=True, rotate_refresh_tokens=False, refresh_omits_refresh_token=True)
    refresh = httpx2.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"],
              "client_id": client["client_id"], "resource": protected_mcp.url},
        timeout=10.0,
    )
    assert refresh.status_code == 200 and "refresh_token" not in refresh.json(), refresh.text
    assert authz_server.refreshes()[-1]["refresh_token_omitted"] is True

    authz_server.control(reset=True, downscope="mcp:tools")
    _, narrow = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url, "mcp:tools mcp:admin", client)
    assert narrow.json()["scope"] == "mcp:tools", "the provider grants less than asked"


def test_refresh_lifetime_delay_and_metadata_override_switches(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    authz_server.control(refresh_access_token_ttl=600)
    client, response = authorize_by_hand(authz_server, scripted_browser, protected_mcp.url)
    assert response.status_code == 200 and response.json()["expires_in"] == 3600, "a code exchange: access_token_ttl"
    refresh = httpx2.post(
        authz_server.metadata()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"],
              "client_id": client["client_id"], "resource": protected_mcp.url},
        timeout=10.0,
    )
    assert refresh.status_code == 200 and refresh.json()["expires_in"] == 600, refresh.text
    assert authz_server.refreshes()[-1]["expires_in"] == 600

    authz_server.control(token_delay={"seconds": 1.5, "grant_type": "refresh_token"})
    started = time.monotonic()
    slow = httpx2.post(
        authz_server.metadata()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh.json()["refresh_token"],
              "client_id": client["client_id"], "resource": protected_mcp.url},
        timeout=10.0,
    )
    assert slow.status_code == 200 and time.monotonic() - started >= 1.5, "the refresh was held back"
    assert authz_server.refreshes()[-1]["delayed"] == 1.5
    assert authz_server.control()["token_delay"] == {"seconds": 1.5, "grant_type": "refresh_token"}

    authz_server.control(metadata_override={"authorization_endpoint": "javascript:alert(1)"})
    meta = authz_server.metadata()
    assert meta["authorization_endpoint"] == "javascript:alert(1)" and meta["issuer"] == authz_server.issuer
    rfc8414 = httpx2.get(f"{authz_server.origin}/.well-known/oauth-authorization-server", timeout=5.0).json()
    assert rfc8414["authorization_endpoint"] == "javascript:alert(1)", "every discovery document says the same"
    authz_server.control(reset=True)
    assert authz_server.metadata()["authorization_endpoint"].startswith(authz_server.issuer)


@pytest.mark.anyio
async def test_sdk_client_refuses_a_wrong_iss_and_a_tampered_state(
    authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    authz_server.control(wrong_iss="http://127.0.0.1:1/evil")
    with pytest.raises(OAuthFlowError, match="(?i)iss"):
        async with sdk_session(protected_mcp.url, scripted_browser):
            pass
    authz_server.control(reset=True)
    scripted_browser.configure(tamper_state="not-the-state")
    with pytest.raises(OAuthFlowError, match="(?i)state"):
        async with sdk_session(protected_mcp.url, scripted_browser):
            pass
    assert not authz_server.token_events("authorization_code"), "no code was exchanged"


def test_browser_modes(authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser) -> None:
    started = time.monotonic()
    refused = scripted_browser.open("javascript:alert(1)")
    assert refused.returncode == 2 and scripted_browser.done()[-1]["outcome"] == "refused"
    assert time.monotonic() - started < 5

    with CallbackListener() as listener:
        client = register_client(authz_server, listener.redirect_uri)
        _, challenge = pkce_pair()
        url = str(
            httpx2.URL(
                authz_server.metadata()["authorization_endpoint"],
                params={
                    "response_type": "code",
                    "client_id": client["client_id"],
                    "redirect_uri": listener.redirect_uri,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": "s1",
                    "scope": "mcp:tools",
                    "resource": protected_mcp.url,
                },
            )
        )
        scripted_browser.configure(mode="deny")
        started = time.monotonic()
        assert scripted_browser.open(url).returncode == 0
        assert time.monotonic() - started < 2, "the opener returns at once, like xdg-open"
        query = listener.next(20.0)
        assert query["error"] == "access_denied" and query["state"] == "s1"
        assert scripted_browser.wait_done(2)[-1]["outcome"] == "denied"

        scripted_browser.configure(mode="no-callback")
        scripted_browser.open(url)
        assert scripted_browser.wait_done(3)[-1]["outcome"] == "no_callback"
        with pytest.raises(TimeoutError):
            listener.next(1.0)


# --- the variants that need no OAuth ---------------------------------------------------------


@pytest.mark.anyio
async def test_unauthenticated_and_static_key_variants(start_resource_server: Callable[..., ResourceServer]) -> None:
    from patchbay_harness import mcp_session

    open_server = start_resource_server(auth="none", wait=False)
    bearer = start_resource_server(auth="static", static_secret="s3cret-bearer", wait=False)
    keyed = start_resource_server(auth="static", static_secret="k3y", static_header="X-API-Key", wait=False)
    for server in (open_server, bearer, keyed):
        server.wait_ready()

    async with mcp_session(open_server.url, None) as session:
        assert text_of(await session.call_tool("echo", {"text": "open"})) == "open"

    async with mcp_session(bearer.url, "s3cret-bearer") as session:
        assert json.loads(text_of(await session.call_tool("whoami", {})))["mode"] == "static"
    wrong = httpx2.post(bearer.url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and "resource_metadata" not in wrong.headers.get("www-authenticate", "")

    async with mcp_session(keyed.url, None, headers={"X-API-Key": "k3y"}) as session:
        assert text_of(await session.call_tool("echo", {"text": "keyed"})) == "keyed"
    assert httpx2.post(keyed.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=5).status_code == 401
    assert keyed.requests("static_bad") and keyed.requests("static_ok")


def test_issuer_with_a_path(start_authz_server: Callable[..., AuthServer]) -> None:
    authz = start_authz_server(issuer_path="/t1")
    assert authz.issuer.endswith("/t1")
    for path in (
        "/.well-known/oauth-authorization-server/t1",
        "/.well-known/openid-configuration/t1",
        "/t1/.well-known/openid-configuration",
    ):
        meta = httpx2.get(authz.origin + path, timeout=5.0).json()
        assert meta["issuer"] == authz.issuer, (path, meta)
        assert meta["token_endpoint"] == f"{authz.issuer}/token"
    assert httpx2.get(f"{authz.origin}/.well-known/oauth-authorization-server", timeout=5.0).status_code == 404
