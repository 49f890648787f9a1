"""The sign-in throttle: how many sign-in attempts reach ThingsBoard, counted per username
and address together and, more loosely, per address."""

import socket
import threading
import time

import requests
from django.test import Client

from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT

ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
SOMEONE_ELSE = {"REMOTE_ADDR": "198.51.100.7"}
PROXY = {"REMOTE_ADDR": "10.0.0.1", "wsgi.url_scheme": "https"}


def sign_in(client, credentials, **meta):
    return client.post("/login/", {"username": credentials[0], "password": credentials[1]}, **meta)


def logins_seen_by_thingsboard(tbsim):
    routes = requests.get(f"{tbsim.url}/sim/stats", timeout=5).json()["routes"]
    return routes.get("POST /api/auth/login", {"count": 0})["count"]


def test_repeated_failures_are_throttled_with_the_same_message(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for _ in range(3):
        sign_in(client, (TENANT[0], "wrong"))
    response = sign_in(client, TENANT)
    assert response.status_code == 429
    assert "Wrong email or password, or too many attempts" in response.content.decode()
    assert "thingsboard" not in client.session


def test_a_throttled_attempt_does_not_reach_thingsboard(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    for _ in range(2):
        sign_in(client, (TENANT[0], "wrong"))
    requests.post(f"{dashboard.url}/sim/stats/reset", timeout=5)
    assert sign_in(client, TENANT).status_code == 429
    assert logins_seen_by_thingsboard(dashboard) == 0


def test_forty_parallel_wrong_passwords_reach_thingsboard_at_most_five_times(
    dashboard, transactional_db, settings
):
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    # Slow answers keep every attempt in flight together, as a burst against a busy
    # ThingsBoard would.
    requests.post(f"{dashboard.url}/sim/faults", json={"latency_ms": 300}, timeout=5)
    requests.post(f"{dashboard.url}/sim/stats/reset", timeout=5)
    start = threading.Barrier(40)
    statuses = []

    def attack():
        client = Client()
        start.wait()
        statuses.append(sign_in(client, (TENANT[0], "wrong"), **ATTACKER).status_code)

    threads = [threading.Thread(target=attack) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert logins_seen_by_thingsboard(dashboard) == 5
    assert sorted(statuses) == [200] * 5 + [429] * 35


def test_a_stranger_cannot_lock_out_a_known_user(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for _ in range(10):
        sign_in(client, (CUSTOMER_A[0], "guess"), **ATTACKER)
    assert sign_in(Client(), CUSTOMER_A, **SOMEONE_ELSE).status_code == 302


def test_a_successful_sign_in_forgets_that_users_failures(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for _ in range(2):
        sign_in(client, (CUSTOMER_A[0], "typo"))
    assert sign_in(client, CUSTOMER_A).status_code == 302
    for _ in range(2):
        assert sign_in(Client(), (CUSTOMER_A[0], "typo")).status_code == 200
    assert sign_in(Client(), CUSTOMER_A).status_code == 302


def test_one_address_trying_many_users_meets_the_looser_address_limit(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 4
    for number in range(1, 5):
        answer = sign_in(client, (f"nobody{number}@example.com", "x"), **ATTACKER)
        assert answer.status_code == 200, number
    assert sign_in(client, CUSTOMER_A, **ATTACKER).status_code == 429
    assert sign_in(Client(), CUSTOMER_A, **SOMEONE_ELSE).status_code == 302


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, dashboard, settings):
    settings.ALARMDESK_HTTPS = True
    settings.ALARMDESK_TRUSTED_PROXIES = 0
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3
    for number in range(1, 4):
        invented = {**PROXY, "HTTP_X_FORWARDED_FOR": f"192.0.2.{number}"}
        sign_in(client, (f"nobody{number}@example.com", "x"), **invented)
    invented = {**PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99"}
    assert sign_in(client, CUSTOMER_A, **invented).status_code == 429


def test_the_trusted_proxy_count_picks_the_address_the_proxy_saw(client, dashboard, settings):
    settings.ALARMDESK_HTTPS = True
    settings.ALARMDESK_TRUSTED_PROXIES = 2  # a load balancer, then the HTTPS proxy
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3
    for number in range(1, 4):
        # The first address is the attacker's to invent; the next two the proxies appended.
        attacker = {**PROXY, "HTTP_X_FORWARDED_FOR": f"192.0.2.{number}, 203.0.113.9, 10.0.0.2"}
        sign_in(client, (f"nobody{number}@example.com", "x"), **attacker)
    attacker = {**PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99, 203.0.113.9, 10.0.0.2"}
    assert sign_in(client, CUSTOMER_B, **attacker).status_code == 429
    someone_else = {**PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7, 10.0.0.2"}
    assert sign_in(Client(), CUSTOMER_A, **someone_else).status_code == 302


def test_a_forwarded_header_shorter_than_the_proxy_count_counts_the_remote_address(
    client, dashboard, settings
):
    settings.ALARMDESK_HTTPS = True
    settings.ALARMDESK_TRUSTED_PROXIES = 2
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3
    for number in range(1, 4):
        short = {**PROXY, "HTTP_X_FORWARDED_FOR": f"192.0.2.{number}"}
        sign_in(client, (f"nobody{number}@example.com", "x"), **short)
    short = {**PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99"}
    assert sign_in(client, CUSTOMER_A, **short).status_code == 429


def point_redis_at(settings, url):
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}


def test_redis_down_lets_people_sign_in(client, dashboard, settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        point_redis_at(settings, f"redis://127.0.0.1:{closed.getsockname()[1]}/0")
    assert sign_in(client, TENANT).status_code == 302


def test_a_hung_redis_delays_a_sign_in_by_about_two_seconds_at_most(client, dashboard, settings):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        point_redis_at(settings, f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        wrong = sign_in(client, (TENANT[0], "wrong"))
        assert time.monotonic() - started < 3
    assert wrong.status_code == 200
    assert "Wrong email or password" in wrong.content.decode()
