"""GET /healthz: JSON a load balancer or a person can read."""

from django.core.cache import caches

from tests.conftest import _free_port


def test_healthy_when_database_and_redis_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert set(body) >= {"last_sync", "last_sync_age_seconds"}


def test_unhealthy_and_503_when_redis_is_down(client, db, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{_free_port()}/0"}
    }
    caches.__dict__.pop("settings", None)
    try:
        response = client.get("/healthz")
    finally:
        caches.__dict__.pop("settings", None)
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: ")


def test_needs_no_sign_in(client, db):
    assert client.get("/healthz").status_code != 302
