from django import template

from alarmdesk.entities.attributes import kind_of, shown

register = template.Library()
KIND_WORDS = {"boolean": "boolean", "number": "number", "json": "JSON", "string": "text"}


@register.filter
def attribute_value(value):
    """An attribute's value as ThingsBoard would write it (JSON as JSON)."""
    return shown(value)


@register.filter
def attribute_kind(value):
    """The value's type, as ThingsBoard keeps it."""
    return KIND_WORDS[kind_of(value)]
