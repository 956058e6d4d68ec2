"""The interaction log (互动记录), follow-up tasks (跟进) and archived mail.

An Interaction is one touch point on a customer's timeline. A FollowUp is a task with a due time and an
optional reminder, fired exactly once by the reminder scan (``reminded_at``). Mail read from a mailbox is
stored once per Message-ID (MailMessage) and filed on the timeline of each customer it concerns through an
Interaction; mail that concerns no known customer waits in the mailbox owner's "unfiled" list.
"""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    CALL = "call", _("Phone call")
    EMAIL = "email", _("Email")
    MEETING = "meeting", _("Meeting")
    VISIT = "visit", _("Visit")
    WECHAT = "wechat", _("WeChat")
    SMS = "sms", _("SMS")
    SOCIAL = "social", _("Social media")
    NOTE = "note", _("Note")


class Direction(models.TextChoices):
    OUTBOUND = "out", _("Outbound")
    INBOUND = "in", _("Inbound")
    NONE = "", _("—")


# Channels that are a contact with the customer (a note is not): they move "last contacted".
CONTACT_CHANNELS = [c for c in Channel.values if c != Channel.NOTE]


# The password stays out of the audit trail; so does reading progress, which changes every few minutes.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 exclude=["password", "uid_validity", "last_uid", "last_checked_at", "last_error"],
                 model_name="MailboxEvent")
class Mailbox(models.Model):
    """An IMAP mailbox whose mail is filed on customers' timelines (one or several per user)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE,
        related_name="mailboxes")
    name = models.CharField(_("name"), max_length=100)
    host = models.CharField(_("IMAP server"), max_length=200)
    port = models.PositiveIntegerField(_("port"), default=993)
    use_ssl = models.BooleanField(_("SSL/TLS"), default=True)
    username = models.CharField(_("user name"), max_length=200)
    password = models.CharField(_("password"), max_length=200)
    folder = models.CharField(_("folder"), max_length=200, default="INBOX")
    address = models.EmailField(_("its own address"), blank=True,
                                help_text=_("Mail between this address and a customer is filed; the address itself "
                                            "never makes a match."))
    enabled = models.BooleanField(_("read it"), default=True)
    uid_validity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.BigIntegerField(_("last UID"), default=0)
    last_checked_at = models.DateTimeField(_("last read"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        ordering = ["name"]

    def __str__(self):
        return self.name


class SendError(models.TextChoices):
    """Why an email written in the CRM was not sent, shown on the timeline in the reader's language."""

    UNREACHABLE = "unreachable", _("the mail server could not be reached")
    TIMED_OUT = "timeout", _("the mail server did not answer in time")
    LOGIN_REFUSED = "login", _("the mail server refused the CRM's login")
    REFUSED = "refused", _("the mail server refused the message")
    RECIPIENT_REFUSED = "recipient", _("the mail server refused the recipient's address")
    INVALID = "invalid", _("the message could not be put together")


class SendStatus(models.TextChoices):
    """Where an email written in the CRM is: waiting for a worker, taken by the mail server, or given up."""

    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Could not be sent")


# The text is left out of the audit trail: it never changes, and copying every message would double the mail kept.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["body"],
                 model_name="MailMessageEvent")
class MailMessage(models.Model):
    """One email, read once per Message-ID whatever mailbox or how often it is seen, or written in the CRM."""

    message_id = models.CharField(_("Message-ID"), max_length=500, unique=True)
    thread_key = models.CharField(_("thread"), max_length=500, db_index=True)  # the first Message-ID of its thread
    in_reply_to = models.CharField(_("in reply to"), max_length=500, blank=True)
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, verbose_name=_("mailbox"), on_delete=models.SET_NULL,
        related_name="messages")
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    sender = models.CharField(_("from"), max_length=500, blank=True)
    recipients = models.TextField(_("to and cc"), blank=True)
    addresses = models.JSONField(_("addresses"), default=list)  # every address of From, To and Cc, lower case
    sent_at = models.DateTimeField(_("sent"))
    body = models.TextField(_("text"), blank=True)
    filed = models.BooleanField(_("filed"), default=False)  # on at least one customer's timeline
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Mail written in the CRM and sent by a worker (interactions.sending): {"from": ..., "to": [...], "reply_to":
    # [...]} as it is handed to the mail server. None for mail read from a mailbox.
    envelope = models.JSONField(_("envelope"), null=True, blank=True)
    # When the mail server took it (set once, under a row lock); ``sent_at`` above is the message's own date.
    smtp_sent_at = models.DateTimeField(_("handed to the mail server"), null=True, blank=True)
    send_error = models.CharField(_("not sent because"), max_length=20, choices=SendError.choices, blank=True)

    class Meta:
        verbose_name = _("email")
        verbose_name_plural = _("emails")
        ordering = ["-sent_at"]
        indexes = [models.Index(fields=["mailbox", "-sent_at"], condition=Q(filed=False), name="mail_unfiled")]

    def __str__(self):
        return self.subject or self.message_id

    @property
    def send_status(self) -> str:
        """A SendStatus for mail written in the CRM; "" for mail read from a mailbox."""
        if self.envelope is None:
            return ""
        if self.smtp_sent_at is not None:
            return SendStatus.SENT
        return SendStatus.FAILED if self.send_error else SendStatus.QUEUED


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="InteractionEvent")
class Interaction(models.Model):
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="interactions")
    contact = models.ForeignKey("customers.Contact", verbose_name=_("contact"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="interactions")
    channel = models.CharField(_("kind"), max_length=20, choices=Channel.choices, default=Channel.CALL)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices, blank=True,
                                 default=Direction.OUTBOUND)
    occurred_at = models.DateTimeField(_("time"))
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("details"), blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="interactions")
    mail = models.ForeignKey(MailMessage, null=True, blank=True, verbose_name=_("mail"), on_delete=models.CASCADE,
                             related_name="interactions")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-pk"]
        permissions = [("export_interaction", _("Can export interactions"))]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="interaction_timeline"),
            models.Index(fields=["author", "-occurred_at"], name="interaction_author"),
            models.Index(fields=["-occurred_at"], name="interaction_time"),
        ]
        constraints = [
            # A mail is filed once on each customer's timeline, however often the mailbox is read.
            models.UniqueConstraint(fields=["mail", "customer"], name="interaction_mail_once_per_customer"),
        ]

    def __str__(self):
        return self.subject or self.get_channel_display()

    def get_absolute_url(self):
        return reverse("customers:detail", args=[self.customer_id]) + f"?tab=timeline#interaction-{self.pk}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="AttachmentEvent")
class Attachment(models.Model):
    interaction = models.ForeignKey(Interaction, verbose_name=_("interaction"), on_delete=models.CASCADE,
        related_name="attachments")
    file = models.FileField(_("file"), upload_to="attachments/%Y/%m/")
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.name


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


OPEN = Q(status=FollowUpStatus.OPEN)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="FollowUpEvent")
class FollowUp(models.Model):
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="followups")
    title = models.CharField(_("next step"), max_length=300)
    notes = models.TextField(_("notes"), blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assignee"), on_delete=models.PROTECT,
                                 related_name="followups")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, verbose_name=_("created by"),
        on_delete=models.SET_NULL,
                                   related_name="+")
    interaction = models.ForeignKey(Interaction, null=True, blank=True, verbose_name=_("interaction"),
        on_delete=models.SET_NULL,
                                    related_name="followups")
    due_at = models.DateTimeField(_("due"))
    remind_at = models.DateTimeField(_("remind me at"), null=True, blank=True)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=10, choices=FollowUpStatus.choices,
                              default=FollowUpStatus.OPEN)
    completed_at = models.DateTimeField(_("done at"), null=True, blank=True)
    # Set in the same transaction as the reminder's notification: the scan never sends a reminder twice.
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_at", "pk"]
        indexes = [
            # The reminder scan: open, not yet reminded, by reminder time. Small: only pending reminders.
            models.Index(fields=["remind_at"], condition=OPEN & Q(reminded_at__isnull=True, remind_at__isnull=False),
                         name="followup_pending_reminder"),
            # The escalation scan: open and not escalated, by due time.
            models.Index(fields=["due_at"], condition=OPEN & Q(escalated_at__isnull=True),
                         name="followup_pending_escalation"),
            models.Index(fields=["assignee", "status", "due_at"], name="followup_assignee"),
            models.Index(fields=["customer", "-due_at"], name="followup_customer"),
        ]

    def __str__(self):
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == FollowUpStatus.OPEN
