from django.urls import path

from . import views

app_name = "backups"

urlpatterns = [
    path("", views.backup_list, name="list"),
    path("new/", views.backup_start, name="create"),
    path("schedule/", views.backup_schedule_update, name="schedule"),
]
