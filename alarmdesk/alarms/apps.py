from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "alarmdesk.alarms"
    label = "alarms"
