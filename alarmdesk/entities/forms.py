from django import forms

from alarmdesk.alarms.models import SEVERITIES


class RaiseForm(forms.Form):
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
    assign = forms.ChoiceField(choices=[("", "Nobody"), ("me", "Me")], required=False)

    def error_text(self):
        return " ".join(str(e) for errors in self.errors.values() for e in errors)
