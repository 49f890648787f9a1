from django.apps import AppConfig


class EntitiesConfig(AppConfig):
    name = "alarmdesk.entities"
    label = "entities"
