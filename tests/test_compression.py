"""HTML is compressed on the wire: brotli for a browser that accepts it, else gzip."""

import gzip

import brotli
import pytest

from tests.conftest import TENANT

CHROMIUM = "gzip, deflate, br, zstd"  # what Chromium 156 sends, over HTTP to localhost too


def test_the_alarm_list_is_gzipped_for_a_browser_that_accepts_it(as_user):
    client = as_user(TENANT)

    plain = client.get("/alarms/", {"status": "ANY"})
    packed = client.get("/alarms/", {"status": "ANY"}, headers={"Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    html = gzip.decompress(packed.content).decode()
    assert html.count('<tr id="row-') == plain.content.decode().count('<tr id="row-') > 0
    assert len(packed.content) < len(plain.content) / 4


def test_a_browser_that_accepts_brotli_gets_brotli_smaller_than_gzip(as_user):
    client = as_user(TENANT)

    plain = client.get("/alarms/", {"status": "ANY"}).content.decode()
    packed = client.get("/alarms/", {"status": "ANY"}, headers={"Accept-Encoding": CHROMIUM})
    zipped = client.get("/alarms/", {"status": "ANY"}, headers={"Accept-Encoding": "gzip"})

    assert packed["Content-Encoding"] == "br"
    assert "Accept-Encoding" in packed["Vary"]
    assert int(packed["Content-Length"]) == len(packed.content)
    html = brotli.decompress(packed.content).decode()
    assert html.count('<tr id="row-') == plain.count('<tr id="row-') == 50
    assert len(packed.content) < len(zipped.content) * 0.9


@pytest.mark.parametrize(
    ("accepted", "encoding"),
    [
        ("br;q=0, gzip", "gzip"),  # refused outright
        ("gzip;q=1.0, br;q=0.5", "gzip"),  # the one the browser prefers
        ("gzip;q=0.5, br", "br"),
        ("identity", None),
        ("BR", "br"),  # tokens are case-insensitive
        ("*", "br"),
        ("*;q=0", None),
    ],
)
def test_the_encoding_follows_accept_encoding(as_user, accepted, encoding):
    client = as_user(TENANT)
    answer = client.get("/alarms/", headers={"Accept-Encoding": accepted})
    assert answer.get("Content-Encoding") == encoding


def test_a_rows_markup_carries_no_form_of_its_own(as_user):
    """Most of a page's bytes are its rows: their Ack and Clear share one form."""
    client = as_user(TENANT)
    few = client.get("/alarms/", {"status": "ANY", "severity": "INDETERMINATE"}).content.decode()
    many = client.get("/alarms/", {"status": "ANY"}).content.decode()
    assert few.count('<tr id="row-') < many.count('<tr id="row-')
    assert few.count("<form") == many.count("<form")
    assert many.count('form="row-act"') == many.count(' data-key="') > 0


def test_the_csv_streams_gzipped(as_user):
    client = as_user(TENANT)
    for accepted in ("gzip", CHROMIUM):  # a stream is gzipped even where brotli is accepted
        packed = client.get("/history/", {"format": "csv"}, headers={"Accept-Encoding": accepted})
        assert packed["Content-Encoding"] == "gzip"
        text = gzip.decompress(b"".join(packed.streaming_content)).decode()
        assert text.startswith('"id",')
