"""ThingsBoard's error answers (thingsboard-api.md section 3)."""

import json
import time

# ThingsboardErrorCode (section 3.2).
GENERAL = 2
AUTHENTICATION = 10
JWT_TOKEN_EXPIRED = 11
PERMISSION_DENIED = 20
BAD_REQUEST_PARAMS = 31
ITEM_NOT_FOUND = 32
TOO_MANY_REQUESTS = 33
DATABASE = 46

STATUS_BY_CODE = {
    GENERAL: 500,
    AUTHENTICATION: 401,
    JWT_TOKEN_EXPIRED: 401,
    PERMISSION_DENIED: 403,
    BAD_REQUEST_PARAMS: 400,
    ITEM_NOT_FOUND: 404,
    TOO_MANY_REQUESTS: 429,
    DATABASE: 500,
}

NO_PERMISSION = "You don't have permission to perform this operation!"


class TbError(Exception):
    """An error ThingsBoard reports as JSON `{status, message, errorCode, timestamp}`."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE[code]

    def body(self):
        return json.dumps(
            {
                "status": self.status,
                "message": self.message,
                "errorCode": self.code,
                "timestamp": int(time.time() * 1000),
            }
        ).encode()


class PlainTextError(Exception):
    """Telemetry endpoints answer through AccessValidator with plain-text bodies (section 6.4)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message):
    return TbError(BAD_REQUEST_PARAMS, message)


def not_found(entity, entity_id):
    return TbError(ITEM_NOT_FOUND, f"{entity} with id [{entity_id}] is not found")


def denied(message=NO_PERMISSION):
    return TbError(PERMISSION_DENIED, message)
