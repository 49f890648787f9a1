from django.urls import include, path
from django.views.generic.base import RedirectView

from alarmdesk import health, webapp
from alarmdesk.accounts import views as accounts

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="alarm_list"), name="home"),
    path("alarms/", include("alarmdesk.alarms.urls")),
    path("oncall/", include("alarmdesk.oncall.urls")),
    path("history/", include("alarmdesk.history.urls")),
    path("", include("alarmdesk.entities.urls")),
    path("login/", accounts.login, name="login"),
    path("logout/", accounts.logout, name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("manifest.webmanifest", webapp.manifest, name="webapp_manifest"),
    path("sw.js", webapp.service_worker, name="service_worker"),
]
