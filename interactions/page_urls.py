"""Pages of one's own work: my tasks, the week, activity lists. Included by interactions/urls.py (namespace "interactions")."""

urlpatterns = []
