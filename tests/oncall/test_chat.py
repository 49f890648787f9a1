"""Chat channels: a tenant administrator sets Slack, Microsoft Teams and plain JSON incoming
webhooks, for the tenant or one customer; alarms are posted to a local HTTP receiver in each
service's documented format, with links that ask first; a customer's channel never gets
another customer's alarm; whoever opens a channel's link acts as themselves, within the
access rule."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alarmdesk.alarms.models import Customer
from alarmdesk.oncall import outbox
from alarmdesk.oncall.models import Delivery, Webhook
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession
from tests.oncall.conftest import device_of, raise_and_send

State = Delivery.State
PUBLIC = "https://alarmdesk.example.org"
HTMX = {"HX-Request": "true"}


class Receiver:
    """Incoming webhooks on loopback: every JSON body posted to /<name>, and an answer per
    name (201 by default, as Slack's 200 or Teams' 202 would do)."""

    def __init__(self):
        self.posts = []
        self.answers = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                name = self.path.strip("/")
                receiver.posts.append((name, self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(receiver.answers.get(name, 200))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, name):
        return [body for posted, _, body in self.posts if posted == name]


@pytest.fixture
def receiver(settings):
    settings.ALARMDESK_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    settings.ALARMDESK_PUBLIC_URL = PUBLIC
    running = Receiver()
    yield running
    running.server.shutdown()


def add(client, receiver, name, kind, customer="", severities=("CRITICAL", "MAJOR"), path=None):
    data = {
        "action": "webhook",
        "kind": kind,
        "name": name,
        "url": f"{receiver.url}/{path or name}",
        "customer": customer,
        "severities": list(severities),
    }
    return client.post("/oncall/", data, headers=HTMX)


def test_each_service_gets_its_own_format_with_links_that_ask(as_user, receiver, planned):
    client = as_user(TENANT)
    customer_a = str(Customer.objects.get(title="Customer A").id)
    for name, kind in (("slack", "slack"), ("teams", "teams"), ("json", "json")):
        assert add(client, receiver, name, kind, customer_a).status_code == 200
    page = client.get("/oncall/").content.decode()
    assert "Customer A&#x27;s alarms" in page or "Customer A's alarms" in page

    alarm_id = raise_and_send(planned, "Chat <Test> & co", device_of("Customer A"))
    [slack] = receiver.of("slack")
    assert slack["text"].startswith("Critical: Chat <Test> & co: ")
    section, actions = slack["blocks"]
    assert section["text"]["text"].startswith("*Critical: Chat &lt;Test&gt; &amp; co*\n")
    buttons = {e["text"]["text"]: e["url"] for e in actions["elements"]}
    assert buttons["Open"] == f"{PUBLIC}/alarms/{alarm_id}/"
    assert re.fullmatch(rf"{PUBLIC}/oncall/n/[^/]+/", buttons["Acknowledge"])

    [teams] = receiver.of("teams")
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "Critical: Chat <Test> & co"
    assert [a["title"] for a in card["actions"]] == ["Acknowledge", "Claim", "Open"]
    assert {a["type"] for a in card["actions"]} == {"Action.OpenUrl"}

    [generic] = receiver.of("json")
    assert generic["event"] == "alarm.raised"
    assert generic["alarm"]["id"] == alarm_id
    assert generic["alarm"]["severity"] == "CRITICAL"
    assert set(generic["links"]) == {"ack", "claim"}
    assert {content for _, content, _ in receiver.posts} == {"application/json"}
    assert set(Delivery.objects.values_list("state", flat=True)) == {State.SENT}

    # The channel's link: a GET asks; the tap acts as whoever signed in.
    path = buttons["Acknowledge"].removeprefix(PUBLIC)
    assert "Acknowledge Chat &lt;Test&gt; &amp; co" in client.get(path).content.decode()
    with TbSession(planned.url, TENANT) as session:
        assert not session.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]
        client.post(path)
        assert session.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]


def test_a_customer_s_channel_never_gets_another_customer_s_alarm(as_user, receiver, planned):
    client = as_user(TENANT)
    add(client, receiver, "tenant", "json")
    add(client, receiver, "a", "json", str(Customer.objects.get(title="Customer A").id))
    raise_and_send(planned, "Of B", device_of("Customer B"))
    raise_and_send(planned, "Of A", device_of("Customer A"))
    raise_and_send(planned, "Minor Of A", device_of("Customer A"), "MINOR")
    assert [b["alarm"]["type"] for b in receiver.of("a")] == ["Of A"]
    assert [b["alarm"]["type"] for b in receiver.of("tenant")] == ["Of B", "Of A"]


def test_a_channel_s_link_is_bounded_by_the_opener_s_access(as_user, own_client, receiver, planned):
    add(as_user(TENANT), receiver, "a", "json", str(Customer.objects.get(title="Customer A").id))
    raise_and_send(planned, "Link Of A", device_of("Customer A"))
    [body] = receiver.of("a")
    path = body["links"]["claim"].removeprefix(PUBLIC)
    assert own_client(CUSTOMER_B).get(path).status_code == 404  # not theirs to see
    assert "Claim Link Of A" in own_client(CUSTOMER_A).get(path).content.decode()
    Webhook.objects.all().delete()
    answer = own_client(CUSTOMER_A).post(path)
    assert answer.status_code == 403
    assert "chat channel this link was posted to was removed" in answer.content.decode()


def test_only_a_tenant_administrator_sets_channels_and_addresses_are_checked(
    as_user, receiver, settings, store
):
    customer = as_user(CUSTOMER_A)
    assert 'id="chat"' not in customer.get("/oncall/").content.decode()
    add(customer, receiver, "sneaky", "json")
    assert not Webhook.objects.exists()

    client = as_user(TENANT)
    settings.ALARMDESK_WEBHOOK_HTTP_HOSTS = []
    answer = add(client, receiver, "plain", "slack")
    assert "must start with https://" in answer.content.decode()
    answer = client.post(
        "/oncall/",
        {
            "action": "webhook",
            "kind": "slack",
            "name": "x",
            "url": "https://u:p@hooks.example/x",
            "severities": ["CRITICAL"],
        },
        headers=HTMX,
    )
    assert "as its service shows it" in answer.content.decode()
    assert not Webhook.objects.exists()
    settings.ALARMDESK_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
    answer = add(client, receiver, '<img src=x onerror="alert(1)">', "teams", path="hostile")
    assert "<img src=x" not in answer.content.decode()
    assert "&lt;img src=x" in answer.content.decode()
    hook = Webhook.objects.get()
    client.post("/oncall/", {"action": "webhook-remove", "id": hook.id}, headers=HTMX)
    assert not Webhook.objects.exists()


def test_a_receiver_that_refuses_for_good_or_for_now(as_user, receiver, planned, settings):
    client = as_user(TENANT)
    add(client, receiver, "removed", "slack")
    add(client, receiver, "busy", "slack")
    receiver.answers = {"removed": 404, "busy": 503}
    raise_and_send(planned, "Refused", "Pump U01")
    states = dict(Delivery.objects.values_list("notice__name", "state"))
    assert states == {"removed": State.GONE, "busy": State.PENDING}
    busy = Delivery.objects.get(notice__name="busy")
    assert "busy answered 503" in busy.error
    receiver.answers = {}
    Delivery.objects.filter(id=busy.id).update(due_at=busy.created_at)
    outbox.deliver(busy.id)
    assert Delivery.objects.get(id=busy.id).state == State.SENT
