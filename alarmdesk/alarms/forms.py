import uuid

from django import forms

ACTION_CHOICES = [
    ("ack", "Acknowledge"),
    ("clear", "Clear"),
    ("assign", "Assign"),
    ("unassign", "Unassign"),
    ("comment", "Comment"),
    ("claim", "Claim"),  # acknowledge, assign to me, and post `text` if any (on-call)
    ("delete", "Delete"),
]
BULK_CHOICES = [
    ("ack", "Acknowledge"),
    ("clear", "Clear"),
    ("assign", "Assign to me"),
    ("unassign", "Unassign"),
]


class ErrorsInWords:
    def error_text(self):
        return " ".join(str(e) for errors in self.errors.values() for e in errors)


class ActionForm(ErrorsInWords, forms.Form):
    """POST /alarms/<uuid>/: action, plus `assignee` (a user id or "me") or `text`; a clear
    or a delete also `confirmed=1`, the person's yes to a question that said what it does."""

    action = forms.ChoiceField(choices=ACTION_CHOICES)
    assignee = forms.CharField(max_length=36, required=False)
    text = forms.CharField(max_length=4000, required=False, strip=True)
    confirmed = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign":
            assignee = data.get("assignee") or ""
            if assignee != "me":
                try:
                    data["assignee"] = str(uuid.UUID(assignee))
                except ValueError:
                    raise forms.ValidationError("Choose whom to assign the alarm to.") from None
        if action == "comment" and not data.get("text"):
            raise forms.ValidationError("Write a comment first.")
        return data

    @property
    def unconfirmed(self):
        """A clear or a delete not yet confirmed: asked first, never done."""
        asks = self.cleaned_data["action"] in ("clear", "delete")
        return asks and not self.cleaned_data["confirmed"]

    def action_arguments(self):
        data = self.cleaned_data
        return {"action": data["action"], "assignee": data["assignee"], "text": data["text"]}


class UUIDList(forms.MultipleChoiceField):
    def valid_value(self, value):
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True


class BulkForm(ErrorsInWords, forms.Form):
    """POST /alarms/bulk/: action, and `ids` or the list's filter with `all=1`."""

    action = forms.ChoiceField(choices=BULK_CHOICES)
    ids = UUIDList(required=False)
    all = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if not data.get("all") and not data.get("ids"):
            raise forms.ValidationError("Select some alarms first.")
        return data
