"""On-call on a 360-pixel phone: a deep link through sign-in, acknowledge, claim, and the
tab title counting a new alarm."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from tests.conftest import TENANT, TbSession, raise_alarm


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()


def sign_in_from(phone, url):
    phone.goto(url)
    expect(phone.get_by_role("button", name="Sign in")).to_be_visible()
    phone.get_by_label("Email").fill(TENANT[0])
    phone.get_by_label("Password").fill(TENANT[1])
    phone.get_by_role("button", name="Sign in").click()


def test_a_deep_link_to_an_alarm_lands_on_it_after_signing_in(app, store, phone):
    alarm = Alarm.objects.filter(cleared=False).first()
    sign_in_from(phone, f"{app}/alarms/{alarm.id}/")
    expect(phone).to_have_url(f"{app}/alarms/{alarm.id}/")
    expect(phone.locator(f'[data-alarm-id="{alarm.id}"]').first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert phone.console_errors == []


def test_acknowledge_and_claim_from_the_phone(app, store, phone, tbsim):
    sign_in_from(phone, f"{app}/oncall/")
    expect(phone).to_have_url(f"{app}/oncall/")
    cards = phone.locator("#oncall-list article[data-alarm-id]")
    first = cards.nth(0)
    first_id = first.get_attribute("data-alarm-id")
    # Claim never takes an alarm from someone: the second is one nobody has yet.
    second_id = str(
        Alarm.objects.filter(cleared=False, acknowledged=False, assignee_id=None)
        .exclude(id=first_id)
        .order_by("severity_rank", "start_ts", "id")
        .values_list("id", flat=True)
        .first()
    )

    button = first.get_by_role("button", name="Acknowledge")
    assert button.bounding_box()["height"] >= 44  # a thumb's target
    button.click()
    expect(phone.locator(f"#oncall-{first_id}")).to_contain_text("Acknowledged.")

    card = phone.locator(f"#oncall-{second_id}")
    card.get_by_text("Claim: acknowledge and take it").click()
    card.get_by_label("Note for ThingsBoard (optional)").fill("On my way")
    card.get_by_role("button", name="Claim").click()
    expect(phone.locator(f"#oncall-{second_id}")).to_contain_text("assigned to you")

    tb = TbSession(tbsim.url, TENANT)
    assert tb.get(f"/api/alarm/info/{first_id}").json()["acknowledged"]
    claimed = tb.get(f"/api/alarm/info/{second_id}").json()
    assert claimed["acknowledged"]
    assert claimed["assignee"]["email"] == TENANT[0]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert phone.console_errors == []


def test_a_new_alarm_raises_the_count_in_the_title(app, store, phone, tbsim):
    sign_in_from(phone, f"{app}/oncall/")
    waiting = Alarm.objects.filter(cleared=False, acknowledged=False).count()
    expect(phone).to_have_title(f"({waiting}) On-call · AlarmDesk")
    raise_alarm(tbsim, "Night Call", "CRITICAL")
    sync.run_cycle()
    expect(phone).to_have_title(f"({waiting + 1}) On-call · AlarmDesk", timeout=12_000)
    expect(phone.locator("#oncall-list")).to_contain_text("Night Call")
    assert phone.console_errors == []


def test_a_note_being_typed_survives_refreshes_that_add_cards_and_redraw_its_own(
    app, store, phone, tbsim
):
    # Synced a minute ago: past the margin within which a refresh sends a card again anyway.
    Alarm.objects.update(changed_at=timezone.now() - timedelta(minutes=1))
    sign_in_from(phone, f"{app}/oncall/")
    card = phone.locator("#oncall-list article[data-alarm-id]").nth(0)
    card_id = card.get_attribute("id")
    alarm = Alarm.objects.get(id=card.get_attribute("data-alarm-id"))
    card.get_by_text("Claim: acknowledge and take it").click()
    note = phone.locator(f"#{card_id}").get_by_label("Note for ThingsBoard (optional)")
    note.fill("Driving to the plant, there in 20")
    phone.evaluate("document.getElementById('oncall-list').dataset.probe = 'before'")
    phone.evaluate(f"document.getElementById('{card_id}').dataset.probe = 'before'")
    raise_alarm(tbsim, "Meanwhile", "INDETERMINATE")
    sync.run_cycle()
    expect(phone.locator("#oncall-list")).to_contain_text("Meanwhile", timeout=12_000)
    # Only the new card came: the section and the card being written in are the same ones.
    assert phone.evaluate("document.getElementById('oncall-list').dataset.probe") == "before"
    assert phone.evaluate(f"document.getElementById('{card_id}').dataset.probe") == "before"
    expect(note).to_have_value("Driving to the plant, there in 20")
    expect(note).to_be_focused()

    # Now that very alarm fires again (its endTs moves): its card is redrawn, and still holds
    # what the person was writing, where they were writing it.
    raise_alarm(tbsim, alarm.type, alarm.severity, device=alarm.originator_name)
    sync.run_cycle()
    expect(phone.locator(f"#{card_id}:not([data-probe])")).to_be_attached(timeout=12_000)
    note = phone.locator(f"#{card_id}").get_by_label("Note for ThingsBoard (optional)")
    expect(note).to_have_value("Driving to the plant, there in 20")
    expect(note).to_be_focused()
    assert phone.console_errors == []
