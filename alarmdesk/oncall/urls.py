from django.urls import path

from . import notify_views, views

urlpatterns = [
    path("", views.oncall, name="oncall"),
    path("push/", notify_views.subscription, name="push_subscription"),
    path("n/<str:token>/", notify_views.notified, name="notified"),
    path("n/<str:token>/tap/", notify_views.tap, name="notified_tap"),
]
