"""HTML is compressed on the wire for browsers that accept it."""

import gzip

from tests.conftest import TENANT


def test_the_alarm_list_is_gzipped_for_a_browser_that_accepts_it(as_user):
    client = as_user(TENANT)

    plain = client.get("/alarms/", {"status": "ANY"})
    packed = client.get("/alarms/", {"status": "ANY"}, headers={"Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    html = gzip.decompress(packed.content).decode()
    assert html.count("data-alarm-id=") == plain.content.decode().count("data-alarm-id=") > 0
    assert len(packed.content) < len(plain.content) / 4


def test_the_csv_streams_gzipped(as_user):
    client = as_user(TENANT)
    packed = client.get("/history/", {"format": "csv"}, headers={"Accept-Encoding": "gzip"})
    assert packed["Content-Encoding"] == "gzip"
    text = gzip.decompress(b"".join(packed.streaming_content)).decode()
    assert text.startswith('"id",')
