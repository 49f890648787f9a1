"""The list grouped by originator or by type: a heading per group with its counts, over the
whole filtered set; a group's alarms as the list's own rows once it is opened."""

import html
import re
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import strip_tags

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from tests.alarms.conftest import sim
from tests.alarms.test_views import ROW_ID, SEVERITY_ORDER, listed
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, thingsboard_alarm_ids

GROUP = re.compile(
    r'<details id="(?P<id>group-[0-9a-f]+)"(?P<attrs>[^>]*)>\s*'
    r'<input type="hidden" name="open" value="(?P<key>[^"]*)">\s*'
    r"<summary[^>]*>(?P<summary>.*?)</summary>(?P<body>.*?)</details>",
    re.S,
)
HEADING = re.compile(r"^(?P<name>.+) — (?P<count>\d+) alarms?: (?P<split>.+)$")
SPLIT = re.compile(r"(\d+) (critical|major|minor|warning|indeterminate)")
TOTAL = re.compile(r"\u00b7\s*(\d+) alarm")


class Group:
    """One group as the page shows it: its heading in words, and its rows when open."""

    def __init__(self, match):
        self.id, self.key = match["id"], html.unescape(match["key"])
        self.open = re.search(r"\bopen\b", match["attrs"]) is not None
        self.heading = " ".join(html.unescape(strip_tags(match["summary"])).split())
        parts = HEADING.match(self.heading)
        assert parts, self.heading
        self.name, self.count = parts["name"], int(parts["count"])
        self.split = {severity.upper(): int(n) for n, severity in SPLIT.findall(parts["split"])}
        self.rows = ROW_ID.findall(match["body"])
        self.body = match["body"]

    @property
    def worst(self):
        return min(SEVERITY_ORDER.index(severity) for severity in self.split)


def groups(response):
    assert response.status_code == 200, response.content.decode()[:2000]
    return [Group(match) for match in GROUP.finditer(response.content.decode())]


def shown_total(response):
    return int(TOTAL.search(response.content.decode()).group(1))


def by_severity(alarms, key):
    """{group name: {severity: count}} as the store holds them."""
    counts = {}
    for name, severity in alarms.values_list(key, "severity"):
        counts.setdefault(name, Counter())[severity] += 1
    return {name: dict(split) for name, split in counts.items()}


# --- the headings -----------------------------------------------------------------------------


def test_each_originator_heading_counts_its_alarms_and_the_groups_add_up_to_the_total(
    as_user, store
):
    client = as_user(TENANT)
    response = client.get("/alarms/", {"status": "ANY", "group": "originator"})
    shown = groups(response)

    assert len(shown) > 1
    assert sum(group.count for group in shown) == shown_total(response)
    assert shown_total(response) == len(thingsboard_alarm_ids(store, TENANT))
    assert all(sum(group.split.values()) == group.count for group in shown)
    expected = by_severity(Alarm.objects.filter(deleted=False), "originator_name")
    assert sorted((g.name, sorted(g.split.items())) for g in shown) == sorted(
        (name, sorted(split.items())) for name, split in expected.items()
    )
    assert not ROW_ID.findall(response.content.decode())  # closed: headings only


def test_a_heading_says_its_counts_in_words_and_symbols(as_user):
    client = as_user(TENANT)
    html_page = client.get("/alarms/", {"group": "type"}).content.decode()
    heading = next(GROUP.finditer(html_page))["summary"]
    # "High Temperature — 7 alarms: ◆ 7 critical": never by colour alone.
    assert re.search(
        r'<span class="severity" aria-hidden="true">\u25c6</span> \d+ critical', heading
    )


def test_groups_come_most_severe_first_then_largest_first(as_user):
    client = as_user(TENANT)
    for grouping in ("originator", "type"):
        shown = groups(client.get("/alarms/", {"status": "ANY", "group": grouping}))
        order = [(group.worst, -group.count) for group in shown]
        assert order == sorted(order)
        assert len({group.worst for group in shown}) > 1 or grouping == "type"


def test_grouping_by_type_counts_the_filtered_set(as_user):
    client = as_user(TENANT)
    params = {"status": "ANY", "severity": ["MAJOR", "MINOR"], "group": "type"}
    response = client.get("/alarms/", params)
    shown = groups(response)
    expected = Alarm.objects.filter(deleted=False, severity__in=["MAJOR", "MINOR"])
    assert {g.name: g.count for g in shown} == Counter(expected.values_list("type", flat=True))
    assert sum(g.count for g in shown) == shown_total(response) == expected.count()


@pytest.mark.parametrize("persona", [CUSTOMER_A, CUSTOMER_B])
def test_a_customer_groups_only_their_own_alarms(as_user, store, persona):
    client = as_user(persona)
    mine = thingsboard_alarm_ids(store, persona, statusList="ACTIVE")
    for grouping, key in (("type", "type"), ("originator", "originator_name")):
        shown = groups(client.get("/alarms/", {"group": grouping}))
        assert sum(group.count for group in shown) == len(mine)
        expected = Counter(Alarm.objects.filter(id__in=mine).values_list(key, flat=True))
        assert {group.name: group.count for group in shown} == expected
        biggest = max(shown, key=lambda group: group.count)
        [opened] = [
            g
            for g in groups(client.get("/alarms/", {"group": grouping, "open": biggest.key}))
            if g.open
        ]
        assert set(opened.rows) <= mine
        assert len(opened.rows) == biggest.count


def test_a_bad_group_is_refused_in_words_and_lists_nothing(as_user):
    client = as_user(TENANT)
    response = client.get("/alarms/", {"group": "severity'--"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "These filters were not understood, so no alarm is shown" in page
    assert "Group by: Select a valid choice. severity&#x27;--" in page
    assert not ROW_ID.findall(page)
    assert not GROUP.search(page)


def test_the_group_by_select_offers_none_originator_and_type(as_user):
    client = as_user(TENANT)
    page = client.get("/alarms/", {"group": "type"}).content.decode()
    select = re.search(r'<select name="group"[^>]*>(.*?)</select>', page, re.S).group(1)
    options = re.findall(r'<option value="(\w*)"( selected)?>([\w ]+)</option>', select)
    assert options == [
        ("", "", "No groups"),
        ("originator", "", "By originator"),
        ("type", " selected", "By type"),
    ]


def grouped_scans(client, params):
    """The page, and the statements that grouped the store's alarms to draw it."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/alarms/", params)
    return response, [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]]


@pytest.mark.parametrize("grouping", ["type", "originator"])
def test_a_page_of_headings_is_grouped_once_per_scope_version(as_user, store, grouping):
    """A million alarms grouped cost a third of a second on PostgreSQL: the page's watchers
    and its refreshes share one answer until the sync changes the scope."""
    client = as_user(TENANT)
    params = {"status": "ANY", "group": grouping}
    first, scans = grouped_scans(client, params)
    assert scans
    second, scans = grouped_scans(client, params)
    assert scans == []
    assert [g.heading for g in groups(second)] == [g.heading for g in groups(first)]
    # Another page, another filter: grouped for itself.
    assert grouped_scans(client, params | {"severity": "MAJOR"})[1]


def test_the_headings_follow_each_change_the_sync_brings(as_user, store):
    client = as_user(TENANT)
    params = {"group": "type"}
    before = {g.name: g.count for g in groups(client.get("/alarms/", params))}
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    sim(store, "/sim/alarms", {"device": device, "type": "Brand New", "severity": "MINOR"})
    sync.run_cycle()

    after, scans = grouped_scans(client, params)
    assert scans
    assert {g.name: g.count for g in groups(after)} == before | {"Brand New": 1}


def test_a_customers_headings_are_not_the_tenants(as_user, store):
    mine = thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE")
    as_user(TENANT).get("/alarms/", {"group": "type"})  # the tenant's answer, kept
    response, scans = grouped_scans(as_user(CUSTOMER_A), {"group": "type"})
    assert scans
    expected = Counter(Alarm.objects.filter(id__in=mine).values_list("type", flat=True))
    assert {g.name: g.count for g in groups(response)} == expected


# --- a group opened --------------------------------------------------------------------------


def test_an_opened_group_shows_its_alarms_as_the_lists_rows(as_user):
    client = as_user(TENANT)
    params = {"status": "ANY", "group": "originator"}
    small = next(g for g in groups(client.get("/alarms/", params)) if 1 < g.count <= 50)

    shown = groups(client.get("/alarms/", {**params, "open": small.key}))

    [opened] = [group for group in shown if group.open]
    assert opened.id == small.id  # the same group, under the same id
    stored = Alarm.objects.filter(originator_id=small.key, deleted=False)
    assert set(opened.rows) == {str(i) for i in stored.values_list("id", flat=True)}
    ranks = [SEVERITY_ORDER.index(Alarm.objects.get(id=i).severity) for i in opened.rows]
    assert ranks == sorted(ranks)  # the list's own order inside the group
    assert 'data-key="a"' in opened.body or "Already acknowledged" in opened.body
    assert 'form="bulk-form"' in opened.body  # selectable for a bulk action
    assert all(not group.rows for group in shown if not group.open)


@pytest.mark.parametrize(("grouping", "field"), [("type", "type"), ("originator", "originator")])
def test_an_opened_group_shows_fifty_rows_and_links_to_the_list_of_all_of_them(
    as_user, store, grouping, field
):
    client = as_user(TENANT)
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    for _ in range(51):  # raised and cleared: 51 alarms of one type on one originator
        body = {"device": device, "type": "Chatty", "severity": "CRITICAL"}
        raised = sim(store, "/sim/alarms", body)
        sim(store, f"/sim/alarms/{raised['id']['id']}/clear")
    sync.run_cycle()
    params = {"status": "ANY", "group": grouping}
    biggest = max(groups(client.get("/alarms/", params)), key=lambda group: group.count)
    assert biggest.count > 50

    [opened] = [
        g for g in groups(client.get("/alarms/", {**params, "open": biggest.key})) if g.open
    ]

    assert len(opened.rows) == 50
    link = re.search(r'<a href="([^"]+)">See all (\d+)', opened.body)
    assert int(link.group(2)) == biggest.count
    url = html.unescape(link.group(1))
    assert f"{field}=" in url
    assert "group=" not in url
    assert "open=" not in url
    rest = client.get(f"/alarms/{url}")
    assert shown_total(rest) == biggest.count
    assert listed(rest) == opened.rows  # the same first fifty, in the same order


def test_at_most_fifty_groups_a_page_and_the_next_page_has_the_rest(as_user, store):
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    for n in range(51):
        sim(store, "/sim/alarms", {"device": device, "type": f"Kind {n:02d}", "severity": "MINOR"})
    sync.run_cycle()
    client = as_user(TENANT)
    everything = Alarm.objects.filter(deleted=False, cleared=False)
    types = len(set(everything.values_list("type", flat=True)))
    assert types > 50

    first = client.get("/alarms/", {"group": "type"})
    second = client.get("/alarms/", {"group": "type", "page": 2})
    beyond = client.get("/alarms/", {"group": "type", "page": 9})

    assert len(groups(first)) == 50
    assert len(groups(second)) == types - 50
    assert f"{types} types" in first.content.decode()
    assert "page 1 of 2" in first.content.decode()
    assert [g.key for g in groups(beyond)] == [g.key for g in groups(second)]  # the last page
    assert "page 2 of 2" in beyond.content.decode()
    names = [g.name for g in groups(first) + groups(second)]
    assert len(set(names)) == types
    assert sum(g.count for g in groups(first) + groups(second)) == shown_total(first)


def test_a_groups_id_stays_the_same_across_renders_and_differs_between_groups(as_user):
    client = as_user(TENANT)
    first = groups(client.get("/alarms/", {"status": "ANY", "group": "type"}))
    again = groups(client.get("/alarms/", {"status": "ANY", "group": "type", "open": first[0].key}))
    assert [(g.key, g.id) for g in first] == [(g.key, g.id) for g in again]
    assert len({g.id for g in first}) == len(first)


def test_an_opened_group_comes_back_open_in_the_live_refresh(as_user, store):
    """The page's refresh sends the keys of the groups open in it (hx-include): they come back
    open with their rows, so a selection or the cursor in them survives the refresh."""
    client = as_user(TENANT)
    shown = groups(client.get("/alarms/", {"group": "originator"}))
    one = shown[0]
    response = client.get(
        "/alarms/",
        {"group": "originator", "open": one.key, "v": "stale", "t": "1"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="alarm-table"')
    [opened] = [g for g in groups(response) if g.open]
    assert opened.id == one.id
    assert len(opened.rows) == one.count
    poll = re.search(r'<section id="alarm-table"[^>]*hx-get="([^"]*)"', page).group(1)
    assert "open=" not in poll  # what is open is read from the page at each refresh
    assert re.search(r'<section id="alarm-table"[^>]*hx-include="[^"]*details', page)


def test_a_closed_group_loads_its_rows_when_opened_and_links_to_them_without_javascript(as_user):
    client = as_user(TENANT)
    page = client.get("/alarms/", {"group": "type"}).content.decode()
    closed = next(GROUP.finditer(page))
    assert 'hx-trigger="toggle once"' in closed["attrs"]
    assert f'hx-select="#{closed["id"]}"' in closed["attrs"]
    link = re.search(r'<a href="([^"]+)"[^>]*>Show its alarms</a>', closed["body"]).group(1)
    shown = groups(client.get(f"/alarms/{html.unescape(link)}"))
    assert [g.id for g in shown if g.open] == [closed["id"]]


# --- the originator filter (the rest of a group) ----------------------------------------------


def test_the_originator_filter_lists_exactly_that_originators_alarms(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False).first()
    ids = listed(client.get("/alarms/", {"status": "ANY", "originator": str(alarm.originator_id)}))
    stored = Alarm.objects.filter(originator_id=alarm.originator_id, deleted=False)
    assert set(ids) == {str(i) for i in stored.values_list("id", flat=True)}


def test_the_originator_filter_of_another_customer_lists_nothing(as_user, store):
    theirs = Alarm.objects.get(id=next(iter(thingsboard_alarm_ids(store, CUSTOMER_A))))
    client = as_user(CUSTOMER_B)
    response = client.get("/alarms/", {"status": "ANY", "originator": str(theirs.originator_id)})
    assert listed(response) == []


def test_the_list_filtered_to_an_originator_names_it_in_the_filters_to_keep_or_remove(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False).first()
    page = client.get("/alarms/", {"originator": str(alarm.originator_id)}).content.decode()
    select = re.search(r'<select name="originator">(.*?)</select>', page, re.S).group(1)
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select)
    assert options == [
        ("", "", "Any"),
        (str(alarm.originator_id), " selected", alarm.originator_name),
    ]
    assert '<details class="more-filters" open>' in page


def test_hostile_text_in_a_groups_name_and_key_is_rendered_inert(as_user):
    from tests.alarms.test_views import HOSTILE

    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False).first()
    Alarm.objects.filter(id=alarm.id).update(type=HOSTILE, originator_name=HOSTILE)
    for grouping in ("type", "originator"):
        shown = groups(client.get("/alarms/", {"group": grouping}))
        hostile = next(g for g in shown if g.name == HOSTILE)
        response = client.get("/alarms/", {"group": grouping, "open": hostile.key})
        page = response.content.decode()
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert 'hx-get="/logout/"' not in page
        assert [g.rows for g in groups(response) if g.open] == [[str(alarm.id)]]
