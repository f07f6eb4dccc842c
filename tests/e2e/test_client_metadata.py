"""Patchbay's OAuth Client ID Metadata Document (issue 24): the template in the repository,
rendered by `scripts/client-metadata` as the release workflow renders it, is a valid document
for a native client whose client id is the URL it is published at.

What a document must hold: draft-ietf-oauth-client-id-metadata-document (client_id equal to its
URL, client_name, redirect_uris, no client secret) and the MCP spec's client registration page;
the loopback redirect without a port: RFC 8252, section 7.3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "client-metadata"
TEMPLATE = ROOT / "resources" / "oauth" / "client-metadata.json"
URL = "https://owner.github.io/patchbay/oauth/client-metadata.json"
HOME = "https://github.com/owner/patchbay"


def render(url: str, client_uri: str = HOME) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, "--client-uri", client_uri], capture_output=True, text=True, timeout=30
    )


def test_the_rendered_document_is_a_native_client_named_by_its_url() -> None:
    rendered = render(URL)
    assert rendered.returncode == 0, rendered.stderr
    document = json.loads(rendered.stdout)
    assert document["client_id"] == URL, "a metadata document's client id is the URL it is served from"
    assert document["client_name"] == "Patchbay"
    assert document["client_uri"] == HOME
    logo = urllib.parse.urlsplit(document["logo_uri"])
    assert (logo.scheme, logo.netloc) == ("https", "owner.github.io"), "the logo is published beside the document"
    assert document["application_type"] == "native"
    assert document["grant_types"] == ["authorization_code", "refresh_token"]
    assert document["response_types"] == ["code"]
    assert document["token_endpoint_auth_method"] == "none", "a public client: nothing secret in a public document"
    assert not {"client_secret", "client_secret_expires_at"} & document.keys()
    assert "{{" not in rendered.stdout, f"a placeholder was left unfilled:\n{rendered.stdout}"
    assert document["redirect_uris"], "redirect_uris is required"
    for uri in document["redirect_uris"]:
        parts = urllib.parse.urlsplit(uri)
        assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/callback"), uri
        assert parts.port is None, f"{uri}: the sign-in listens on any port, so none is named (RFC 8252 7.3)"


def test_the_template_in_the_repository_is_filled_only_by_the_script() -> None:
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    assert template["client_id"] == "{{client_id}}", "the repository's document leaves its URL to the release workflow"
    rendered = json.loads(render(URL).stdout)
    assert rendered.keys() == template.keys(), "the script adds and drops no field"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://owner.github.io/patchbay/oauth/client-metadata.json", "not an https URL"),
        ("https://owner.github.io/", "has no path"),
        ("https://owner.github.io/a/../client-metadata.json", "path segments"),
        ("https://owner.github.io/c.json#x", "fragment"),
    ],
)
def test_a_url_that_cannot_be_a_client_id_is_refused(url: str, why: str) -> None:
    rendered = render(url)
    assert rendered.returncode == 2 and rendered.stdout == "", rendered
    assert why in rendered.stderr and url in rendered.stderr, rendered.stderr
