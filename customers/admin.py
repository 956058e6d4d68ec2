from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import tasks
from .field_encryption import stored_value_count
from .models import CustomFieldDefinition, PoolSettings, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


class CustomFieldDefinitionForm(forms.ModelForm):
    confirm_encryption = forms.BooleanField(
        label=_("Yes, encrypt (or decrypt) the values already stored"), required=False,
        help_text=_("Asked when the sensitive setting of a field that already has values changes."),
    )

    class Meta:
        model = CustomFieldDefinition
        fields = ["key", "label", "label_en", "field_type", "choices", "required", "filterable", "position",
                  "is_active", "encrypted"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "encrypted" in self.changed_data and not cleaned.get("confirm_encryption"):
            stored = CustomFieldDefinition.objects.get(pk=self.instance.pk)
            count = stored_value_count(stored)
            if count:
                message = (
                    ngettext("%(count)s customer has a value in this field. It will be encrypted in the background, "
                             "with its copies in the history and in imports. Tick the box below and save again.",
                             "%(count)s customers have a value in this field. They will be encrypted in the "
                             "background, with their copies in the history and in imports. Tick the box below and "
                             "save again.", count)
                    if cleaned.get("encrypted") else
                    ngettext("%(count)s customer has a value in this field. It will be decrypted and stored as plain "
                             "text, with its copies in the history and in imports. Tick the box below and save again.",
                             "%(count)s customers have a value in this field. They will be decrypted and stored as "
                             "plain text, with their copies in the history and in imports. Tick the box below and "
                             "save again.", count)
                )
                self.add_error("confirm_encryption", message % {"count": count})
        return cleaned


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    form = CustomFieldDefinitionForm
    list_display = ["label", "label_en", "key", "field_type", "required", "filterable", "encrypted", "is_active",
                    "position"]
    list_editable = ["position", "is_active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "encrypted" in form.changed_data:
            # A worker walks every stored copy (customers, history, imports, leads); see customers.field_encryption.
            transaction.on_commit(lambda: tasks.sync_custom_field_encryption.delay(obj.pk))
            message = (gettext("The stored values of %(field)s are being encrypted in the background.")
                       if obj.encrypted else
                       gettext("The stored values of %(field)s are being decrypted in the background."))
            self.message_user(request, message % {"field": obj}, messages.INFO)

    def has_delete_permission(self, request, obj=None):
        # Its encrypted values would be left behind, out of reach of key rotation: decrypt them first.
        if obj is not None and obj.encrypted:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        encrypted = queryset.filter(encrypted=True)
        if encrypted.exists():
            self.message_user(request, gettext("Sensitive fields are not deleted: turn off “sensitive” first, which "
                                               "decrypts their values."), messages.WARNING)
        super().delete_queryset(request, queryset.filter(encrypted=False))


@admin.register(PoolSettings)
class PoolSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "return_after_days", "claim_limit"]

    def has_add_permission(self, request):
        return not PoolSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
