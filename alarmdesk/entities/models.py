from django.db import models


class AttributeChange(models.Model):
    """One attribute written or deleted through AlarmDesk, as the audit log keeps it: who,
    on what, the value before and after (JSON, types kept), and ThingsBoard's outcome.
    Logged as pending before ThingsBoard is asked, completed after."""

    class Outcome(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        DENIED = "denied"  # ThingsBoard refused the user
        FAILED = "failed"
        UNKNOWN = "unknown"  # no answer: done or not, ThingsBoard says on the next read

    at = models.DateTimeField(auto_now_add=True)
    user_id = models.UUIDField()
    user_email = models.CharField(max_length=255)
    entity_type = models.CharField(max_length=16)
    entity_id = models.UUIDField()
    scope = models.CharField(max_length=16)
    key = models.CharField(max_length=255)
    had_value = models.BooleanField()  # the key existed before (its old value may be null)
    old = models.JSONField(null=True)
    deleted = models.BooleanField(default=False)  # a delete; else `new` was written
    new = models.JSONField(null=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)  # ThingsBoard's refusal, in its words

    class Meta:
        indexes = [models.Index(fields=["entity_id", "at"])]

    def __str__(self):
        return f"{self.user_email} {self.key} of {self.entity_id}: {self.outcome}"
