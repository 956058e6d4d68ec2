"""Pages of one's own work: my tasks, the week, activity lists.

Included by interactions/urls.py (namespace "interactions").
"""

from django.urls import path

from . import page_views

urlpatterns = [
    path("tasks/", page_views.my_tasks, name="my_tasks"),
    path("tasks/week/", page_views.week, name="week"),
    path("activity/", page_views.team_activity, name="activity"),
    path("activity/mine/", page_views.my_activity, name="my_activity"),
]
