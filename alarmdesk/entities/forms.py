import json
import math
import re
import uuid

from django import forms

from alarmdesk.alarms.forms import ErrorsInWords
from alarmdesk.alarms.models import SEVERITIES


class RaiseForm(ErrorsInWords, forms.Form):
    """POST /devices/<uuid>/ (or /assets/): action=raise, a type (known or new), a severity,
    a note kept as the alarm's details, and whether to assign it to oneself."""

    type = forms.CharField(
        max_length=255,
        strip=True,
        error_messages={
            "required": "Name the alarm's type.",
            "max_length": "A type is at most 255 characters.",
        },
    )
    severity = forms.ChoiceField(
        choices=[(s, s.title()) for s in SEVERITIES],
        error_messages={"invalid_choice": "%(value)s is not one of ThingsBoard's severities."},
    )
    note = forms.CharField(max_length=4000, required=False, strip=True)
    # "me", a user's id (ThingsBoard checks the assignee), or nobody.
    assign = forms.CharField(max_length=36, required=False)

    def clean_assign(self):
        assign = self.cleaned_data["assign"]
        if assign in ("", "me"):
            return assign
        try:
            return str(uuid.UUID(assign))
        except ValueError:
            raise forms.ValidationError("Choose whom to assign it to from the list.") from None


KINDS = [("string", "Text"), ("number", "Number"), ("boolean", "True or false"), ("json", "JSON")]
_INTEGER = re.compile(r"[-+]?\d+")


class AttributeForm(ErrorsInWords, forms.Form):
    """POST action=attribute: a key of a writable scope, its value and the value's type (as
    ThingsBoard keeps it: a number, a boolean, a string, a JSON object or array); or
    action=attribute-delete: a key of a writable scope."""

    scope = forms.ChoiceField()
    key = forms.CharField(
        max_length=255,
        strip=True,
        error_messages={"required": "Name the attribute's key."},
    )
    kind = forms.ChoiceField(choices=KINDS, required=False)
    value = forms.CharField(max_length=10_000, required=False, strip=False)

    def __init__(self, *args, scopes, deleting=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.deleting = deleting
        self.fields["scope"].choices = [(s, s) for s in scopes]
        self.fields["scope"].error_messages["invalid_choice"] = (
            "%(value)s is not a scope AlarmDesk writes here (client attributes are the "
            "device's own)."
        )

    def clean(self):
        data = super().clean()
        if self.deleting or "value" not in data:
            return data
        data["value"] = _typed(data.get("kind") or "string", data["value"])
        return data


def _typed(kind, text):
    if kind == "string":
        return text
    if kind == "boolean":
        if text.strip().lower() not in ("true", "false"):
            raise forms.ValidationError("True or false takes true or false.")
        return text.strip().lower() == "true"
    if kind == "number":
        text = text.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            raise forms.ValidationError(f"{text!r} is not a number.") from None
        if not math.isfinite(number):
            raise forms.ValidationError("A number must be finite.")
        return number
    try:
        value = json.loads(text)
    except ValueError as error:
        raise forms.ValidationError(f"That is not JSON: {error}.") from None
    if not isinstance(value, dict | list):
        raise forms.ValidationError("JSON here is an object {...} or an array [...].")
    return value
