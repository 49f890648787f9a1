from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "alarmdesk.history"
    label = "history"
