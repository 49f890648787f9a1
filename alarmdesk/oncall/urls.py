from django.urls import path

from . import views

urlpatterns = [path("", views.oncall, name="oncall")]
