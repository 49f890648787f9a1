import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarmdesk.settings")
django_application = get_wsgi_application()

from alarmdesk.livepoll import QuietRefresh  # noqa: E402 (needs Django set up)

# A live page's quiet refresh is answered before Django (alarmdesk/livepoll.py).
application = QuietRefresh(django_application)
