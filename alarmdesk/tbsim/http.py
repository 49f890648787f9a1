"""Request parsing the way Spring MVC does it for ThingsBoard's controllers."""

import json

from werkzeug.wrappers import Response

from .errors import GENERAL, TbError, bad_request
from .query import PageLink, parse_sort

MAX_BODY = 1024 * 1024


class Call:
    """One API request: its parameters, its body and the authenticated user."""

    def __init__(self, request, state, user=None, claims=None):
        self.request = request
        self.args = request.args
        self.state = state
        self.user = user
        self.claims = claims

    def param(self, name):
        value = self.args.get(name)
        return value if value not in (None, "") else None

    def int_param(self, name, *, required=False, java_type="int"):
        value = self.args.get(name)
        if value is None:
            if required:
                # UNVERIFIED (section 3.2): MissingServletRequestParameterException reaches
                # BaseController's catch-all handler and comes back as a 500, code 2.
                raise TbError(
                    GENERAL,
                    f"Required request parameter '{name}' for method parameter type "
                    f"{java_type} is not present",
                )
            return None
        if value == "" and java_type != "int":
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(
                f"Failed to convert value of type 'java.lang.String' to required type "
                f"'{java_type}'; For input string: \"{value}\""
            ) from None

    def long_param(self, name, *, required=False):
        return self.int_param(name, required=required, java_type="long")

    def list_param(self, name):
        """String[] parameters: repeated, or one comma-separated value (Spring splits it)."""
        values = []
        for raw in self.args.getlist(name):
            values.extend(v for v in raw.split(",") if v)
        return values

    def page_link(self):
        page_size = self.int_param("pageSize", required=True)
        page = self.int_param("page", required=True)
        if page_size < 1:
            raise bad_request("Page size must not be less than one")
        if page < 0:
            raise bad_request("Page index must not be less than zero")
        sort_property, sort_desc = parse_sort(
            self.param("sortProperty"), self.args.get("sortOrder")
        )
        return PageLink(page, page_size, self.param("textSearch"), sort_property, sort_desc)

    def json_body(self):
        data = self.request.get_data(cache=True)
        if len(data) > MAX_BODY:
            # Payload-too-large is mapped to 400 code 31 (section 3.2).
            raise bad_request("Payload Too Large")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            # UNVERIFIED: Jackson's HttpMessageNotReadableException answered as a bad request.
            raise bad_request("Invalid request body: not valid JSON") from None


def json_response(value, status=200):
    return Response(json.dumps(value), status=status, content_type="application/json")


def raw_json_response(body, status=200):
    return Response(body, status=status, content_type="application/json")


def page_response(rows, page_link, to_json):
    data, total, total_pages, has_next = page_link.paginate(rows, to_json)
    return json_response(
        {"data": data, "totalPages": total_pages, "totalElements": total, "hasNext": has_next}
    )


def text_response(text, status, content_type="text/plain;charset=UTF-8"):
    return Response(text, status=status, content_type=content_type)


def empty_response(status=200):
    return Response(b"", status=status)
