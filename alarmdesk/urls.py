from django.urls import path

from alarmdesk import health
from alarmdesk.accounts import views as accounts

urlpatterns = [
    path("", accounts.home, name="home"),
    path("login/", accounts.login, name="login"),
    path("logout/", accounts.logout, name="logout"),
    path("healthz", health.healthz, name="healthz"),
]
