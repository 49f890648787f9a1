"""The list's filters, sort and page, parsed from the URL (DESIGN.md, "URLs")."""

import time as clock
import uuid
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.cache import cache
from django.db.models import Q

from alarmdesk.cache import quietly
from alarmdesk.thingsboard.errors import ThingsBoardError

from .access import scope_of, visible_alarms
from .models import FALSE, SEVERITIES, TRUE

# Each status as the fields of an alarm it fixes: the list's WHERE, and what a scope's counts
# by status are summed over (alarms/counts.py).
STATUS_FIELDS = {
    "ACTIVE": {"cleared": False},
    "ANY": {},
    "CLEARED": {"cleared": True},
    "ACK": {"acknowledged": True},
    "UNACK": {"acknowledged": False},
}
STATUSES = tuple(STATUS_FIELDS)
STATUS_FILTERS = {
    status: Q(**{name: TRUE if value else FALSE for name, value in fields.items()})
    for status, fields in STATUS_FIELDS.items()
}
# Sort keys of the URL -> ORDER BY. Severity goes by rank (CRITICAL first), never by word.
SORTS = {
    "severity": ("severity_rank", "-start_ts"),
    "-severity": ("-severity_rank", "-start_ts"),
    "created": ("start_ts",),
    "-created": ("-start_ts",),
    "updated": ("end_ts",),
    "-updated": ("-end_ts",),
    "type": ("type", "-start_ts"),
    "-type": ("-type", "-start_ts"),
}
SORT_LABELS = {
    "severity": "Most severe first",
    "-severity": "Least severe first",
    "-created": "Newest first",
    "created": "Oldest first",
    "-updated": "Recently updated",
    "type": "Type A-Z",
}
# What the list may be grouped by (alarmdesk/alarms/groups.py): URL value -> words.
GROUPINGS = {"originator": "Originator", "type": "Type"}
PAGE_SIZE = 50
# The filters' choices (filter_choices): offered up to this long after the scope changed.
CHOICES_STALE = 30
CHOICES_KEEP_SECONDS = 86_400
# Types a filter names that the choices do not offer, asked of the store one by one: a
# bounded number (each is a query).
UNOFFERED_TYPES_ASKED = 10
# The dates a user may type: ThingsBoard's times are epoch ms, so nothing is before 1970;
# past 2100 is a typo, and year 9999 would overflow a datetime when a day is added.
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2100, 12, 31)


def filter_choices(user, version):
    """The types and assignees to offer in the filters, for the user's scope.

    Reading them is a scan of the scope (475 to 930 ms at 1,000,000 alarms on PostgreSQL),
    so they are kept in the cache: until the scope changes, and for CHOICES_STALE seconds
    after it did; the sync reads them again for the scopes it changes (`refresh_choices`),
    so a page rarely has to. A type new to the scope may thus be offered up to that long
    after its first alarm is listed, and is filtered on at once (the type field asks the
    store about a type it does not offer). Without Redis they are read every time."""
    kind, scope_id = scope_of(user)
    if not version:  # Redis is not answering: neither is the cache
        return _read_choices(visible_alarms(user))
    kept = _cache(cache.get, _choices_key(user.tenant_id, kind, scope_id))
    if kept is not None and (
        kept["version"] == version or clock.time() - kept["at"] < CHOICES_STALE
    ):
        return kept["choices"]
    choices = _read_choices(visible_alarms(user))
    _keep_choices(choices, user.tenant_id, kind, scope_id, version)
    return choices


def refresh_choices(tenant_id, kind, scope_id, alarms, version):
    """For the sync, after a run that changed the scope: read its choices again when those
    kept are older than half their freshness, so that pages find them fresh."""
    kept = _cache(cache.get, _choices_key(tenant_id, kind, scope_id))
    if kept is None or clock.time() - kept["at"] >= CHOICES_STALE / 2:
        _keep_choices(_read_choices(alarms), tenant_id, kind, scope_id, version)


def _read_choices(alarms):
    alarms = alarms.order_by()
    return {
        "types": sorted(alarms.values_list("type", flat=True).distinct()),
        "assignees": list(
            alarms.filter(assignee_id__isnull=False)
            .values_list("assignee_id", "assignee_email")
            .distinct()
            .order_by("assignee_email")
        ),
    }


def _keep_choices(choices, tenant_id, kind, scope_id, version):
    kept = {"version": version, "at": clock.time(), "choices": choices}
    _cache(cache.set, _choices_key(tenant_id, kind, scope_id), kept, CHOICES_KEEP_SECONDS)


def _choices_key(tenant_id, kind, scope_id):
    return f"choices:{tenant_id}:{kind}:{scope_id}"


def _cache(operation, *args):
    return quietly(operation, *args, what="the filter choices")


def to_ms(moment):
    """A datetime as ThingsBoard's epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def page_and_pages(requested, total, page_size=PAGE_SIZE):
    """(the page to show, how many there are): a page past the end shows the last one."""
    pages = max(1, -(-total // page_size))
    return min(requested, pages), pages


class _GroupKeys(forms.MultipleChoiceField):
    """The keys of the groups drawn open (an originator id, a type): any, as a key that names
    no group opens nothing; a bounded number of bounded length, as each costs a query."""

    most = PAGE_SIZE  # a page of groups

    def valid_value(self, value):
        return len(value) <= 255

    def to_python(self, value):
        # Named twice (the page's URL and its open groups, both sent by the pager): once.
        return list(dict.fromkeys(super().to_python(value)))

    def validate(self, value):
        super().validate(value)
        if len(value) > self.most:
            raise forms.ValidationError(f"Open at most {self.most} groups, not {len(value)}.")


class _Types(forms.MultipleChoiceField):
    """Alarm types: those offered, and one the offer lacks when the user's scope holds an
    alarm of it (the offer may be CHOICES_STALE seconds behind the store); at most
    UNOFFERED_TYPES_ASKED of those a filter, each asked of the store."""

    scope = None  # the user's visible alarms

    def validate(self, value):
        offered = {str(key) for key, _ in self.choices}
        unoffered = [t for t in value if t not in offered]
        if unoffered and self.scope is not None and len(unoffered) <= UNOFFERED_TYPES_ASKED:
            held = self.scope.filter(type__in=unoffered).values_list("type", flat=True)
            self.choices = [*self.choices, *((t, t) for t in set(held.distinct()))]
        super().validate(value)


class AlarmFilter(forms.Form):
    """The list's filter; `apply()` narrows a queryset of alarms the user may see.

    Whatever was typed is either used or refused in words: a filter silently widened would
    list, export or act on more alarms than the user asked for."""

    default_status = "ACTIVE"

    status = forms.ChoiceField(
        choices=[(s, s.title()) for s in STATUSES], required=False, label="Status"
    )
    severity = forms.MultipleChoiceField(
        choices=[(s, s.title()) for s in SEVERITIES], required=False, label="Severity"
    )
    type = _Types(choices=[], required=False, label="Type")
    q = forms.CharField(max_length=100, required=False, strip=True, label="Search")
    assignee = forms.CharField(max_length=36, required=False, label="Assignee")
    customer = forms.CharField(max_length=36, required=False, label="Customer")
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")
    originator = forms.CharField(max_length=36, required=False, label="Originator")
    # The alarms of an asset and of everything it contains, however deep (ThingsBoard's
    # "Contains" relations, asked through `contained`: entities/hierarchy.contained).
    asset = forms.CharField(max_length=36, required=False, label="Asset")
    sort = forms.ChoiceField(choices=[(s, s) for s in SORTS], required=False, label="Sort")
    group = forms.ChoiceField(
        # Words that say what they do even where the label is hidden (a phone).
        choices=[("", "No groups"), *((k, f"By {v.lower()}") for k, v in GROUPINGS.items())],
        required=False,
        label="Group by",
    )
    open = _GroupKeys(required=False, label="Open groups")
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False, label="Page")

    def __init__(self, data, *, types=(), scope=None, contained=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["type"].choices = [(t, t) for t in types]
        self.fields["type"].scope = scope
        self.contained = contained
        self.asset_name, self.asset_ids = "", ()

    @classmethod
    def of_user(cls, data, user, version, contained=None):
        """(the filter of `data` for `user`, the choices it offers) at the scope's `version`;
        `contained(asset_id)` -> (its name, the ids an asset filter covers); it raises
        LookupError for an asset not the user's, ThingsBoardError when ThingsBoard does not
        answer."""
        choices = filter_choices(user, version)
        scope = visible_alarms(user)
        return cls(data, types=choices["types"], scope=scope, contained=contained), choices

    def clean_assignee(self):
        return _id_or_word(self.cleaned_data["assignee"], ("me", "none"), "assignee")

    def clean_customer(self):
        return _id_or_word(self.cleaned_data["customer"], ("none",), "customer")

    def clean_originator(self):
        return _id_or_word(self.cleaned_data["originator"], (), "originator")

    def clean_asset(self):
        asset = _id_or_word(self.cleaned_data["asset"], (), "asset")
        if not asset:
            return asset
        if self.contained is None:
            raise forms.ValidationError("This page does not filter by asset.")
        try:
            self.asset_name, ids = self.contained(asset)
            self.asset_ids = tuple(ids)
        except LookupError:
            raise forms.ValidationError("That asset is not one you can see.") from None
        except ThingsBoardError:
            raise forms.ValidationError(
                "ThingsBoard cannot be reached to say what that asset contains. Try again."
            ) from None
        return asset

    def clean_since(self):
        return _within_bounds(self.cleaned_data["since"], self.data.get("since"))

    def clean_until(self):
        return _within_bounds(self.cleaned_data["until"], self.data.get("until"))

    def clean(self):
        data = super().clean()
        for name, field in self.fields.items():
            given = len(self.data.getlist(name)) if hasattr(self.data, "getlist") else 1
            if given > 1 and not isinstance(field, forms.MultipleChoiceField):
                self.add_error(name, f"Give {field.label} once, not {given} times.")
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", f"To ({until}) is before From ({since}).")
        return data

    def error_text(self):
        """Every error, each after its field's label: for a message or a text/plain answer."""
        return " ".join(
            f"{self.fields[name].label}: {' '.join(errors)}" for name, errors in self.errors.items()
        )

    def apply(self, alarms, user, *, with_severity=True):
        """The alarms the filter selects (severity left out for the per-severity counts)."""
        data = self.cleaned_data
        alarms = alarms.filter(STATUS_FILTERS[self.status_key])
        if with_severity and data.get("severity"):
            alarms = alarms.filter(severity__in=data["severity"])
        if data.get("type"):
            alarms = alarms.filter(type__in=data["type"])
        if data.get("q"):
            q = data["q"]
            alarms = alarms.filter(
                Q(type__icontains=q)
                | Q(originator_name__icontains=q)
                | Q(originator_label__icontains=q)
            )
        assignee = data.get("assignee")
        if assignee == "me":
            alarms = alarms.filter(assignee_id=user.id)
        elif assignee == "none":
            alarms = alarms.filter(assignee_id=None)
        elif assignee:
            alarms = alarms.filter(assignee_id=assignee)
        customer = data.get("customer")
        if customer and user.is_tenant_admin:
            alarms = alarms.filter(customer_id=None if customer == "none" else customer)
        if data.get("originator"):
            alarms = alarms.filter(originator_id=data["originator"])
        if data.get("asset"):
            alarms = alarms.filter(originator_id__in=self.asset_ids)
        return self.within_window(alarms)

    def originator_name(self, alarms):
        """The name of the originator filtered on, as the user's alarms give it ("" if none
        of them is that originator's)."""
        chosen = self.cleaned_data.get("originator")
        if not chosen:
            return ""
        names = alarms.filter(originator_id=chosen).values_list("originator_name", flat=True)
        return next(iter(names[:1]), "")  # any one: not first(), whose ORDER BY id scans

    def within_window(self, alarms):
        """A window keeps the alarms active at some point in it: one raised long ago and
        still active is never hidden by a window."""
        data = self.cleaned_data
        if data.get("since"):
            since = to_ms(datetime.combine(data["since"], time(), tzinfo=UTC))
            alarms = alarms.filter(Q(clear_ts=None) | Q(clear_ts__gte=since))
        if data.get("until"):
            until = to_ms(datetime.combine(data["until"] + timedelta(days=1), time(), tzinfo=UTC))
            alarms = alarms.filter(start_ts__lt=until)
        return alarms

    @property
    def status_key(self):
        return self.cleaned_data.get("status") or self.default_status

    @property
    def sort_key(self):
        return self.cleaned_data.get("sort") or "severity"

    @property
    def page_number(self):
        return self.cleaned_data.get("page") or 1

    def ordered(self, alarms):
        return alarms.order_by(*SORTS[self.sort_key], "id")


def _within_bounds(value, typed):
    if value and not FIRST_DATE <= value <= LAST_DATE:
        raise forms.ValidationError(
            f"Choose a date from {FIRST_DATE} to {LAST_DATE} ({typed} is outside)."
        )
    return value


def _id_or_word(value, words, what):
    if not value or value in words:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise forms.ValidationError(f"Unknown {what}") from None
