from django.urls import path

from . import views

urlpatterns = [
    path("devices/<uuid:entity_id>/", views.device_detail, name="device_detail"),
    path("assets/<uuid:entity_id>/", views.asset_detail, name="asset_detail"),
]
