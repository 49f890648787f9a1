from django.db import models

from alarmdesk.alarms.models import SEVERITIES


def default_sounds():
    return ["CRITICAL", "MAJOR"]


class Preference(models.Model):
    """How the on-call page calls for attention, remembered per ThingsBoard user."""

    user_id = models.UUIDField(primary_key=True)
    muted = models.BooleanField(default=False)
    sounds = models.JSONField(default=default_sounds)  # severities that play a sound
    notify = models.BooleanField(default=False)  # browser notifications, once permitted

    def __str__(self):
        return f"on-call preferences of {self.user_id}"

    @classmethod
    def of(cls, user):
        return cls.objects.filter(user_id=user.id).first() or cls(user_id=user.id)

    def sound_choices(self):
        return [(severity, severity in self.sounds) for severity in SEVERITIES]
