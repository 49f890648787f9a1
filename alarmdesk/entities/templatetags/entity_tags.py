from django import template
from django.urls import reverse

from alarmdesk.entities.attributes import kind_of, shown
from alarmdesk.entities.originator import PAGES

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


@register.simple_tag
def entity_url(entity_type, entity_id):
    """The page of a device or an asset; "" for an originator without one."""
    page = PAGES.get(entity_type)
    return reverse(page, args=[entity_id]) if page else ""
