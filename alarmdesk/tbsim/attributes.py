"""Attributes written and deleted through the REST API, kept per entity and scope, and the
JSON-to-value conversion ThingsBoard applies to them (JsonConverter.convertToAttributes).
"""

import json
import re
from decimal import Decimal

# NumberUtils.isParsable (commons-lang3): an optional minus, digits with at most one point,
# not ending in the point; no exponent, no hexadecimal.
PARSABLE = re.compile(r"-?[0-9]*\.?[0-9]+")
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


class NotAnObject(Exception):
    """The body is JSON, but no object."""


class UnparsableValue(Exception):
    """A value JsonConverter cannot turn into a KvEntry: its JsonSyntaxException."""


class _Literal(str):
    """A number as written in the request, which JsonConverter reads digit by digit."""


def parse_attributes(text):
    """{key: value} from a JSON object body, each value typed as JsonConverter.parseValues
    types it: LONG and DOUBLE as int and float, BOOLEAN, STRING, JSON as dict or list.

    Raises json.JSONDecodeError for text that is not JSON, NotAnObject, and UnparsableValue
    for a value that is neither a primitive nor an object or array (null).
    """
    if not text.strip():
        # Gson's JsonParser reads an empty document as JsonNull.
        raise NotAnObject
    literal = json.loads(text, parse_int=_Literal, parse_float=_Literal)
    if not isinstance(literal, dict):
        raise NotAnObject
    plain = json.loads(text)
    values = {}
    for key, raw in literal.items():
        if isinstance(raw, _Literal):
            values[key] = numeric_value(str(raw))
        elif isinstance(raw, str):
            # json.type_cast_enabled (true by default, thingsboard.yml) makes "42" a LONG.
            values[key] = numeric_value(raw) if PARSABLE.fullmatch(raw) else raw
        elif isinstance(raw, bool | dict | list):
            # JSON values are kept as Gson wrote them and read back through Jackson,
            # which is what json.loads gives for the nested numbers.
            values[key] = plain[key]
        else:
            raise UnparsableValue(f"Can't parse value: {json.dumps(raw)}")
    return values


def numeric_value(text):
    """JsonConverter.parseNumericValue: a whole number (by BigDecimal, but "1.0" stays a
    double) is a LONG, else a DOUBLE; beyond a long, or past 16 decimal places, the plain
    string of the number (type cast enabled)."""
    number = Decimal(text)
    simple_double = "." in text and "e" not in text.lower()
    if _stripped_scale(number) <= 0 and not simple_double:
        if LONG_MIN <= number <= LONG_MAX:
            return int(number)
        return format(number, "f")
    if -number.as_tuple().exponent <= 16:
        return float(number)
    return format(number, "f")


def _stripped_scale(number):
    """BigDecimal.stripTrailingZeros().scale(): zero's is 0."""
    if number == 0:
        return 0
    _, digits, exponent = number.as_tuple()
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return -(exponent + trailing)


class Attributes:
    """What users wrote and deleted, by (entity id, scope). A deleted key is gone from the
    computed attributes too, as a deleted row is gone in ThingsBoard until something
    writes the key again; the simulated devices never write their own attributes."""

    def __init__(self):
        self._written = {}  # (entity id, scope) -> {key: (value, lastUpdateTs)}
        self._deleted = {}  # (entity id, scope) -> keys deleted since last written

    def save(self, entity_id, scope, values, ts):
        written = self._written.setdefault((entity_id, scope), {})
        deleted = self._deleted.setdefault((entity_id, scope), set())
        for key, value in values.items():
            written[key] = (value, ts)
            deleted.discard(key)

    def delete(self, entity_id, scope, keys):
        written = self._written.get((entity_id, scope), {})
        deleted = self._deleted.setdefault((entity_id, scope), set())
        for key in keys:
            written.pop(key, None)
            deleted.add(key)

    def merged(self, entity_id, scope, computed):
        """`computed` rows `[{lastUpdateTs, key, value}]` of one scope, less the deleted keys,
        with the written keys over them and after them."""
        written = self._written.get((entity_id, scope), {})
        deleted = self._deleted.get((entity_id, scope), set())
        rows = [row for row in computed if row["key"] not in deleted | written.keys()]
        rows += [{"lastUpdateTs": ts, "key": k, "value": v} for k, (v, ts) in written.items()]
        return rows
