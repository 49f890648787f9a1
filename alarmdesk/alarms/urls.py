from django.urls import path

from . import bulk_views, views

urlpatterns = [
    path("", views.alarm_list, name="alarm_list"),
    path("bulk/", bulk_views.bulk, name="bulk"),
    path("bulk/<int:job_id>/", bulk_views.bulk_job, name="bulk_job"),
    path("<uuid:alarm_id>/", views.alarm_detail, name="alarm_detail"),
]
