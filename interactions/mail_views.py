"""Mail pages: one's mailboxes, the mail no customer matched (to file by hand), writing to a customer.

Thin: each view checks the module permission (403), takes its records from the scope functions of
interactions.permissions or customers.permissions (404 outside them), calls one service and answers with a page, a
partial (htmx) or a redirect. Mailboxes and their mail belong to their owner; administrators see all. Nothing here
talks to a mail server: reading and sending run in workers.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.accounts.roles import is_admin
from crm.web.pagination import paginate
from customers import permissions as customer_policy
from customers.search import search_condition

from . import mail, sending
from . import permissions as policy
from .mail_forms import ComposeForm, FileMailForm, MailboxForm, UnfiledMailFilter

# The mail module: its own mailboxes and their mail. Filing or sending also logs an interaction.
mail_required = permission_required("interactions.view_mailmessage", raise_exception=True)
log_required = permission_required("interactions.add_interaction", raise_exception=True)
CUSTOMER_RESULTS = 20


def _template(request, name: str, partial: str) -> str:
    return f"{name}#{partial}" if request.htmx and not request.htmx.boosted else name


@require_GET
@mail_required
def mailbox_list(request):
    mailboxes = policy.mailboxes_for(request.user).select_related("owner").order_by("owner__username", "name")
    return render(request, "interactions/mail_mailbox_list.html",
                  {"mailboxes": mailboxes, "show_owner": is_admin(request.user)})


def _mailbox_form(request, mailbox=None):
    form = MailboxForm(request.POST or None, instance=mailbox)
    if request.method == "POST" and form.is_valid():
        try:
            saved = mail.mailbox_save(actor=request.user, mailbox=form.save(commit=False))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if saved.enabled:
                mail.mailbox_sync_queue(actor=request.user, mailbox=saved)
                messages.success(request, _("Mailbox %(name)s saved; it is being read now.") % {"name": saved.name})
            else:
                messages.success(request, _("Mailbox %(name)s saved.") % {"name": saved.name})
            return redirect("interactions:mailbox_list")
    return render(request, "interactions/mail_mailbox_form.html", {"form": form, "mailbox": mailbox})


@require_http_methods(["GET", "POST"])
@mail_required
def mailbox_create(request):
    return _mailbox_form(request)


@require_http_methods(["GET", "POST"])
@mail_required
def mailbox_update(request, pk):
    return _mailbox_form(request, policy.get_mailbox_or_404(request.user, pk))


@require_http_methods(["GET", "POST"])
@mail_required
def mailbox_delete(request, pk):
    mailbox = policy.get_mailbox_or_404(request.user, pk)
    if request.method == "POST":
        mail.mailbox_delete(actor=request.user, mailbox=mailbox)
        messages.success(request, _("Mailbox %(name)s deleted.") % {"name": mailbox.name})
        return redirect("interactions:mailbox_list")
    unfiled = policy.unfiled_for(request.user).filter(mailbox=mailbox)[:1001].count()
    return render(request, "interactions/mail_mailbox_confirm_delete.html", {"mailbox": mailbox, "unfiled": unfiled})


@require_POST
@mail_required
def mailbox_sync(request, pk):
    """"Read now": queue a read. From htmx the mailbox's row comes back saying so."""
    mailbox = policy.get_mailbox_or_404(request.user, pk)
    mail.mailbox_sync_queue(actor=request.user, mailbox=mailbox)
    if request.htmx:
        return render(request, "interactions/mail_mailbox_list.html#row",
                      {"mailbox": mailbox, "queued": True, "show_owner": is_admin(request.user)})
    messages.success(request, _("%(name)s is being read; new mail appears in a minute.") % {"name": mailbox.name})
    return redirect("interactions:mailbox_list")


@require_GET
@mail_required
def mail_unfiled(request):
    mailboxes = policy.mailboxes_for(request.user)
    filterset = UnfiledMailFilter(request.GET or None, mailboxes=mailboxes,
                                  queryset=policy.unfiled_for(request.user).select_related("mailbox__owner"))
    rows = filterset.qs if filterset.is_bound else filterset.queryset
    page = paginate(request, rows.order_by("-sent_at", "-pk"))
    return render(request, _template(request, "interactions/mail_unfiled_list.html", "results"),
                  {"filter": filterset, "page": page, "has_mailboxes": mailboxes.exists()})


@require_http_methods(["GET", "POST"])
@mail_required
@log_required
def mail_file(request, pk):
    """File one unfiled message on a customer found by searching those the user may see."""
    message = policy.get_mail_or_404(request.user, pk)
    customers = customer_policy.customers_for(request.user)
    form = FileMailForm(request.POST or None, customers=customers)
    if request.method == "POST" and form.is_valid():
        customer = form.cleaned_data["customer"]
        try:
            interaction = mail.mail_file_to_customer(actor=request.user, message=message, customer=customer)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Filed on %(customer)s.") % {"customer": customer.name})
            if request.POST.get("next") == "customer":
                return redirect(interaction.get_absolute_url())
            return redirect("interactions:mail_unfiled")
    query = request.GET.get("find", "").strip()  # not "q": base.html's customer search box reads that
    found = list(customers.filter(search_condition(query)).select_related("owner")
                 .order_by("-updated_at")[:CUSTOMER_RESULTS]) if query else []
    context = {"message": message, "form": form, "query": query, "found": found,
               "may_view_sensitive": request.user.has_perm("customers.view_sensitive_customer")}
    return render(request, _template(request, "interactions/mail_file.html", "found"), context)


@require_http_methods(["GET", "POST"])
@log_required
def mail_compose(request, customer_pk):
    customer = customer_policy.get_customer_or_404(request.user, customer_pk)
    form = ComposeForm(request.POST or None, request.FILES or None, customer=customer,
                       may_view_sensitive=request.user.has_perm("customers.view_sensitive_customer"))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sending.email_send(actor=request.user, customer=customer, contact=form.contact, subject=data["subject"],
                               body=data["body"], attachments=data["files"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Sending to %(to)s: the timeline shows when it has gone out.")
                             % {"to": dict(form.fields["to"].choices)[data["to"]]})
            return redirect(reverse("customers:detail", args=[customer.pk]) + "?tab=timeline")
    return render(request, "interactions/mail_compose.html", {"form": form, "customer": customer})


def compose_panel(request, customer):
    """The customer page's small "write an email" box (customers.timeline panel)."""
    if not request.user.has_perm("interactions.add_interaction"):
        return None
    has_address = bool(customer.email) or any(c.email for c in customer.contacts.all())
    return {"customer": customer, "has_address": has_address,
            "has_mailbox_module": request.user.has_perm("interactions.view_mailmessage")}
