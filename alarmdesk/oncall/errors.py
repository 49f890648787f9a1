"""How a channel's send can fail, as the outbox tells the cases apart."""


class Gone(Exception):
    """The address is no more (a push service's 404 or 410): not tried again."""


class Failed(Exception):
    """Not delivered this time (unreachable, refused for now): tried again after a while."""
