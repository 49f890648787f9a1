from django import template

from alarmdesk.entities.attributes import shown

register = template.Library()


@register.filter
def attribute_value(value):
    """An attribute's value as ThingsBoard would write it (JSON as JSON)."""
    return shown(value)


@register.filter
def attribute_kind(value):
    """The value's type, as ThingsBoard keeps it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict | list):
        return "JSON"
    return "text"
