"""The installable web app: a manifest a phone can install from, its icons, and a service
worker served from the site's root (so that its scope is the whole site), all public."""

import json
import struct
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from tests.conftest import TENANT

pytestmark = pytest.mark.django_db


def png_size(path):
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_the_manifest_says_what_a_phone_needs_to_install_the_app(client):
    answer = client.get("/manifest.webmanifest")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/manifest+json"
    manifest = json.loads(answer.content)
    assert manifest["name"] == "AlarmDesk"
    assert manifest["start_url"] == "/oncall/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    sizes = {}
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png"
        assert icon["src"].startswith("/static/icons/")
        found = finders.find(icon["src"].removeprefix("/static/"))
        assert found, icon
        width, height = png_size(found)
        assert icon["sizes"] == f"{width}x{height}"
        sizes.setdefault(icon["purpose"], set()).add(width)
    # Android's install prompt asks for 192 and 512; a maskable icon fills adaptive shapes.
    assert sizes == {"any": {192, 512}, "maskable": {192, 512}}
    assert png_size(finders.find("icons/apple-touch-icon.png")) == (180, 180)  # iOS


def test_the_service_worker_is_served_from_the_root_fresh_and_public(client):
    answer = client.get("/sw.js")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/javascript")
    assert "no-cache" in answer["Cache-Control"]
    body = answer.content.decode()
    assert 'addEventListener("push"' in body
    assert 'addEventListener("notificationclick"' in body
    assert "/static/icons/alarmdesk-192.png" in body
    assert "{%" not in body


@pytest.mark.parametrize("path", ["/login/", "/alarms/", "/oncall/", "/history/"])
def test_every_page_links_the_manifest_and_registers_the_worker(as_user, path):
    client = as_user(TENANT)
    page = client.get(path).content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert 'data-worker="/sw.js"' in page
    assert '<link rel="apple-touch-icon"' in page


def test_both_are_answered_without_a_session_and_only_to_a_get(client):
    for path in ("/manifest.webmanifest", "/sw.js"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "Set-Cookie" not in answer, path
    assert client.post("/sw.js").status_code == 405
