"""The official MCP conformance suite's client auth scenarios (`conformance client --suite auth`,
the 14 scenarios of spec revisions 2025-06-18 and 2025-11-25), run on Node 22; and, one
`--scenario` run each, the 2025-03-26 backcompat scenarios and the client credentials
extension's two.

`patchbay connect` against the suite runs by default whenever the suite is installed
(`bash scripts/deps.sh`); it takes about a minute. The Python SDK's reference run, which only
checks the harness, is opt-in: PATCHBAY_CONFORMANCE=1. See tests/oauth/CONFORMANCE.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from oauth_bed import BROWSER, OAUTH_DIR, keyring_bus_address, node_bin
from patchbay_harness import PEERS, Hub, Sandbox, cli_json, patchbay_bin

CONFORMANCE = PEERS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
AUTH_SCENARIOS = 14
SUITE_TIMEOUT = 240.0
SUMMARY = re.compile(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$")
# A `--scenario` run's verdict line (on stderr), and the context it was given.
VERDICT = re.compile(r"^Passed: (\d+)/(\d+), (\d+) failed, (\d+) warnings$", re.MULTILINE)
CONTEXT = re.compile(r"^With context: (\{.*\})$", re.MULTILINE)
# The scenarios beyond the auth suite that Patchbay passes: 2025-03-26 (suite `backcompat`) and
# the client credentials extension (SEP-1046; suite `extensions`, whose cross-app access
# scenario Patchbay does not do). Each runs with `--scenario`, which also fails on the client's
# exit code (a suite run counts only the checks).
BACKCOMPAT = ["auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"]
CLIENT_CREDENTIALS = ["auth/client-credentials-basic", "auth/client-credentials-jwt"]
# The draft revision's scenarios (suite `draft`): a resource metadata naming another server, and
# `offline_access` asked for only where the authorization server offers it.
DRAFT = ["auth/resource-mismatch", "auth/offline-access-scope", "auth/offline-access-not-supported"]

opt_in = pytest.mark.skipif(
    os.environ.get("PATCHBAY_CONFORMANCE") != "1", reason="the reference run is opt-in: PATCHBAY_CONFORMANCE=1"
)
installed = pytest.mark.skipif(
    not CONFORMANCE.exists(), reason=f"`{CONFORMANCE}` is not installed: run `bash scripts/deps.sh`"
)


def adapter_with_hub(sandbox: Sandbox, tmp_path: Path, start_hub: Callable[..., Hub]) -> tuple[str, dict[str, str]]:
    """A hub started for the adapter (with a hub, the sign-in and any step-up run inside it, so
    the hub gets the scripted browser and the keychain in its own environment); the adapter's
    command and environment."""
    sandbox.env.update(
        DBUS_SESSION_BUS_ADDRESS=keyring_bus_address(),
        BROWSER=str(BROWSER),
        PATCHBAY_BROWSER_LOG=str(tmp_path / "browser.jsonl"),
    )
    start_hub()
    command = f"{PEERS / 'venv' / 'bin' / 'python'} {OAUTH_DIR / 'conformance_adapter.py'}"
    env = dict(sandbox.env)
    env.update(PATCHBAY_BIN=patchbay_bin(), PATH=os.environ.get("PATH", ""), PYTHONPATH=str(Path(__file__).parent))
    return command, env


def run_auth_suite(command: str, env: Mapping[str, str], out_dir: Path, timeout_ms: int = 30000) -> dict[str, tuple[int, int, int]]:
    """Runs `conformance client --suite auth --command COMMAND`; returns scenario -> (passed,
    failed, warnings) from its summary (results per scenario in `out_dir`)."""
    if not CONFORMANCE.exists():
        pytest.fail(f"missing `{CONFORMANCE}`: run `bash scripts/deps.sh`", pytrace=False)
    node = node_bin()
    cmd = [node, str(CONFORMANCE), "client", "--suite", "auth", "--command", command,
           "--timeout", str(timeout_ms), "-o", str(out_dir)]
    proc = subprocess.Popen(cmd, env=dict(env), cwd=out_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired:
        from patchbay_harness import stop_process

        stop_process(proc)
        out, err = proc.communicate()
        pytest.fail(f"conformance suite did not finish in {SUITE_TIMEOUT} s\n{out[-4000:]}\n{err[-4000:]}")
    (out_dir / "suite.stdout.txt").write_text(out)
    (out_dir / "suite.stderr.txt").write_text(err)
    results = {}
    for line in out.splitlines():
        m = SUMMARY.match(line.strip())
        if m:
            results[m[2]] = (int(m[3]), int(m[4]), int(m[5] or 0))
    assert len(results) == AUTH_SCENARIOS, f"expected {AUTH_SCENARIOS} scenario summaries:\n{out[-4000:]}\n{err[-2000:]}"
    return results


def failures(results: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    return {name: r for name, r in results.items() if r[1] or r[2]}


@opt_in
@pytest.mark.timeout(SUITE_TIMEOUT + 30)
def test_reference_sdk_client_passes_the_auth_suite(tmp_path: Path) -> None:
    """The harness works: the Python SDK's client with the scripted browser passes every scenario."""
    command = f"{PEERS / 'venv' / 'bin' / 'python'} {OAUTH_DIR / 'sdk_conformance_client.py'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATCHBAY_BROWSER_LOG"] = str(tmp_path / "browser.jsonl")
    results = run_auth_suite(command, env, tmp_path)
    assert not failures(results), f"scenarios with failures or warnings: {failures(results)}"


@installed
@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_patchbay_connect_passes_the_auth_suite(
    sandbox: Sandbox, start_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """Every scenario passes with no failure and no warning. In `auth/scope-retry-limit` the
    adapter is expected to exit 1 (Patchbay gives up re-authorizing): the suite itself counts
    that as a pass, so the assertion is the same for all 14."""
    command, env = adapter_with_hub(sandbox, tmp_path, start_hub)
    out_dir = tmp_path / "conformance"
    out_dir.mkdir()
    results = run_auth_suite(command, env, out_dir, timeout_ms=60000)
    print("\n".join(f"{name}: {r}" for name, r in sorted(results.items())), file=sys.stderr)
    assert not failures(results), (
        f"scenarios with failures or warnings (passed, failed, warnings): {failures(results)}; "
        f"each scenario's checks and the adapter's output are in {out_dir}/auth/"
    )


def run_scenarios(
    scenarios: list[str], command: str, env: Mapping[str, str], out_dir: Path, timeout_ms: int = 30000
) -> dict[str, tuple[int, int, int, int, dict]]:
    """Runs `conformance client --scenario S --command COMMAND` for each scenario at once (as the
    suite would); returns scenario -> (passed, failed, warnings, exit code, context given)."""
    node = node_bin()
    procs = {}
    for scenario in scenarios:
        cmd = [node, str(CONFORMANCE), "client", "--scenario", scenario, "--command", command,
               "--timeout", str(timeout_ms), "-o", str(out_dir)]
        procs[scenario] = subprocess.Popen(cmd, env=dict(env), cwd=out_dir, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    results = {}
    for scenario, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=SUITE_TIMEOUT)
        except subprocess.TimeoutExpired:
            from patchbay_harness import stop_process

            for other in procs.values():
                stop_process(other)
            out, err = proc.communicate()
            pytest.fail(f"conformance scenario {scenario} did not finish in {SUITE_TIMEOUT} s\n{err[-4000:]}")
        name = scenario.removeprefix("auth/")
        (out_dir / f"{name}.stdout.txt").write_text(out)
        (out_dir / f"{name}.stderr.txt").write_text(err)
        verdict = VERDICT.search(err)
        assert verdict, f"no verdict line from {scenario}:\n{err[-4000:]}"
        context = CONTEXT.search(err)
        results[scenario] = (int(verdict[1]), int(verdict[3]), int(verdict[4]), proc.returncode,
                             json.loads(context[1]) if context else {})
    return results


def no_file_holds(roots: list[Path], values: dict[str, str]) -> dict[str, list[str]]:
    """The files under `roots` that hold any of `values` (name -> value): where a secret leaked."""
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            for name, value in values.items():
                if value.encode() in data:
                    found.setdefault(name, []).append(str(path))
    return found


@installed
@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_the_metadata_document_url_is_presented_without_the_flag(
    sandbox: Sandbox, start_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """The URL in force without `--client-metadata-url` (here PATCHBAY_CLIENT_METADATA_URL, as a
    release build's baked-in default): presented where the authorization server advertises
    `client_id_metadata_document_supported` (auth/basic-cimd), Dynamic Client Registration
    where it does not (auth/metadata-default); `tokens list` shows which client id was used."""
    sys.path.insert(0, str(OAUTH_DIR))
    from conformance_adapter import CONFORMANCE_CIMD_URL, server_name

    sandbox.env["PATCHBAY_CLIENT_METADATA_URL"] = CONFORMANCE_CIMD_URL
    command, env = adapter_with_hub(sandbox, tmp_path, start_hub)
    out_dir = tmp_path / "conformance"
    out_dir.mkdir()
    scenarios = ["auth/basic-cimd", "auth/metadata-default"]
    results = run_scenarios(scenarios, command, env, out_dir, timeout_ms=60000)
    bad = {name: r[:4] for name, r in results.items() if r[1] or r[2] or r[3] or not r[0]}
    assert not bad, f"(passed, failed, warnings, exit): {bad}; the runs' output is in {out_dir}"
    rows = {r["server"]: r for r in cli_json(sandbox, "tokens", "list")}
    cimd, dcr = (rows.get(server_name(s), {}) for s in scenarios)
    assert cimd.get("client_id") == CONFORMANCE_CIMD_URL, f"the document's URL is the client id: {cimd}"
    assert dcr.get("client_id") and dcr["client_id"] != CONFORMANCE_CIMD_URL, f"a registered client id: {dcr}"


@installed
@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_patchbay_connect_passes_the_backcompat_and_client_credentials_scenarios(
    sandbox: Sandbox, start_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """2025-03-26: the authorization server metadata at the MCP server's origin (no resource
    metadata), and no metadata at all (the default `/authorize`, `/token`, `/register`). The
    client credentials grant: a secret in HTTP Basic, and a `private_key_jwt` assertion. Every
    scenario passes with no failure, no warning and the adapter exiting 0 (connect, then a tool
    call through the hub); `tokens list` names each grant; the client secret and the private key
    are in no file of the installation (only in the keychain)."""
    command, env = adapter_with_hub(sandbox, tmp_path, start_hub)
    out_dir = tmp_path / "conformance"
    out_dir.mkdir()
    results = run_scenarios(BACKCOMPAT + CLIENT_CREDENTIALS, command, env, out_dir, timeout_ms=60000)
    print("\n".join(f"{name}: {r[:4]}" for name, r in sorted(results.items())), file=sys.stderr)
    bad = {name: r[:4] for name, r in results.items() if r[1] or r[2] or r[3] or not r[0]}
    assert not bad, (
        f"scenarios with failures, warnings or a failing adapter (passed, failed, warnings, exit): {bad}; "
        f"the runs' output is in {out_dir}"
    )

    sys.path.insert(0, str(OAUTH_DIR))
    from conformance_adapter import server_name

    rows = {r["server"]: r for r in cli_json(sandbox, "tokens", "list")}
    for scenario in BACKCOMPAT + CLIENT_CREDENTIALS:
        name = server_name(scenario)
        want = "client_credentials" if scenario in CLIENT_CREDENTIALS else "authorization_code"
        assert rows.get(name, {}).get("grant") == want, (
            f"`tokens list` should say `{name}` holds tokens of the {want} grant: {rows.get(name)}"
        )
        assert rows[name]["actions"]["refresh"] == (scenario in CLIENT_CREDENTIALS), (
            f"only client credentials tokens renew without a refresh token here: {rows[name]}"
        )

    secret = results["auth/client-credentials-basic"][4].get("client_secret")
    pem = results["auth/client-credentials-jwt"][4].get("private_key_pem", "")
    key_body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    assert secret and len(key_body) > 40, f"the scenarios' context carried no secret or key: {results}"
    leaks = no_file_holds([sandbox.home, sandbox.user_home],
                          {"client secret": secret, "private key": key_body[:64]})
    assert not leaks, f"secrets belong in the keychain only, yet files hold them: {leaks}"


@installed
@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_patchbay_connect_passes_the_draft_scenarios(
    sandbox: Sandbox, start_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """The draft revision's three: a protected resource metadata whose `resource` is another
    server's is refused before any token is asked for; `offline_access` is asked for where the
    authorization server lists it, and not where it does not. No failure, no warning, the
    adapter's exit as the scenario wants it."""
    command, env = adapter_with_hub(sandbox, tmp_path, start_hub)
    out_dir = tmp_path / "conformance"
    out_dir.mkdir()
    results = run_scenarios(DRAFT, command, env, out_dir, timeout_ms=60000)
    print("\n".join(f"{name}: {r[:4]}" for name, r in sorted(results.items())), file=sys.stderr)
    bad = {name: r[:4] for name, r in results.items() if r[1] or r[2] or r[3] or not r[0]}
    assert not bad, (
        f"scenarios with failures, warnings or a failing run (passed, failed, warnings, exit): {bad}; "
        f"the runs' output is in {out_dir}"
    )

