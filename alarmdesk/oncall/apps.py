from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "alarmdesk.oncall"
    label = "oncall"
