"""Mail: mailboxes, unfiled mail, sending email from the CRM. Included by interactions/urls.py (namespace "interactions")."""

urlpatterns = []
