"""E-mail to the person on call, received by a real SMTP server (aiosmtpd) on loopback:
plain text and HTML, the person's own links on ALARMDESK_PUBLIC_URL, which open a page that
asks and act only on its tap, for that person only; a mail server that is down is tried
again; a customer user is never e-mailed another customer's alarm."""

import email
import email.policy
import re
import threading

import pytest
from aiosmtpd.controller import Controller

from alarmdesk.alarms.models import Alarm, Customer
from alarmdesk.oncall import outbox
from alarmdesk.oncall.models import Delivery
from tests.conftest import CUSTOMER_A, TENANT, TbSession, _free_port
from tests.oncall.conftest import raise_and_send

State = Delivery.State
PUBLIC = "https://alarmdesk.example.org"


class Inbox:
    """aiosmtpd's handler: every message it accepts, parsed."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append((envelope.rcpt_tos, parsed))
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count, timeout=10):
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} e-mails, not {count}")
            return list(self.messages)


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.DEFAULT_FROM_EMAIL = "AlarmDesk <alarmdesk@example.org>"
    settings.ALARMDESK_PUBLIC_URL = PUBLIC
    yield inbox
    controller.stop()


def on_call_by_email(client, **fields):
    data = {"action": "duty", "severities": ["CRITICAL"], "time_zone": "UTC", "on_call": "1"}
    answer = client.post(
        "/oncall/", data | {"by_email": "on"} | fields, headers={"HX-Request": "true"}
    )
    assert "by e-mail too" in answer.content.decode()


def parts(message):
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_an_alarm_e_mails_the_person_on_call_with_links_that_ask_first(as_user, smtp, planned):
    client = as_user(TENANT)
    on_call_by_email(client)
    alarm_id = raise_and_send(planned, "Mail Test", "Pump U01")
    [(recipients, message)] = smtp.wait(1)
    assert recipients == [TENANT[0]]
    assert message["Subject"] == "[AlarmDesk] Critical: Mail Test on Pump U01"
    assert message["From"] == "AlarmDesk <alarmdesk@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message)
    assert "Critical: Mail Test" in text
    assert f"Open the alarm: {PUBLIC}/alarms/{alarm_id}/" in text
    ack = re.search(rf"Acknowledge: {PUBLIC}(/oncall/n/[^/\s]+/)", text).group(1)
    claim = re.search(
        rf"Claim \(acknowledge and assign to you\): {PUBLIC}(/oncall/n/[^/\s]+/)", text
    )
    assert claim
    assert claim.group(1) != ack
    assert f'href="{PUBLIC}{ack}"' in html
    assert Delivery.objects.get().state == State.SENT

    # A previewer's GET of the link does nothing; the page's tap acknowledges.
    page = client.get(ack)
    assert "Acknowledge Mail Test on Pump U01?" in page.content.decode()
    with TbSession(planned.url, TENANT) as session:
        assert not session.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]
        client.post(ack)
        assert session.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]


def test_someone_else_opening_the_e_mail_s_link_is_refused(as_user, own_client, smtp, planned):
    on_call_by_email(as_user(TENANT))
    raise_and_send(planned, "Forwarded", "Pump U01")
    [(_, message)] = smtp.wait(1)
    ack = re.search(rf"Acknowledge: {PUBLIC}(/oncall/n/[^/\s]+/)", parts(message)[0]).group(1)
    other = own_client(CUSTOMER_A)
    answer = other.post(ack)
    assert answer.status_code == 403
    assert "sent to someone else" in answer.content.decode()


def test_a_customer_user_is_never_e_mailed_another_customer_s_alarm(as_user, smtp, planned):
    on_call_by_email(as_user(CUSTOMER_A))
    theirs = Customer.objects.get(title="Customer B").id
    ours = Customer.objects.get(title="Customer A").id
    raise_and_send(
        planned, "Not Yours", Alarm.objects.filter(customer_id=theirs)[0].originator_name
    )
    raise_and_send(planned, "Yours", Alarm.objects.filter(customer_id=ours)[0].originator_name)
    messages = smtp.wait(1)
    assert [m["Subject"].split(" on ")[0] for _, m in messages] == ["[AlarmDesk] Critical: Yours"]


def test_a_mail_server_down_is_tried_again(as_user, smtp, planned, settings):
    on_call_by_email(as_user(TENANT))
    settings.EMAIL_PORT = _free_port()  # nothing listens there
    raise_and_send(planned, "Mail Down", "Pump U01")
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (State.PENDING, 1)
    assert "mail server" in delivery.error
    settings.EMAIL_PORT = smtp.port
    Delivery.objects.update(due_at=delivery.created_at)
    outbox.deliver(delivery.id)
    assert Delivery.objects.get().state == State.SENT
    assert len(smtp.wait(1)) == 1
