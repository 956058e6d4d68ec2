from django.contrib import admin

from .models import CustomFieldDefinition, PoolSettings, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["label", "label_en", "key", "field_type", "required", "filterable", "is_active", "position"]
    list_editable = ["position", "is_active"]


@admin.register(PoolSettings)
class PoolSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "return_after_days", "claim_limit"]

    def has_add_permission(self, request):
        return not PoolSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
