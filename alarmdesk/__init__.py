# The Celery app is loaded with Django, so tasks sent from the web (bulk jobs) use its
# broker rather than Celery's default one.
from .celery import app as celery_app

__all__ = ("celery_app",)
