from django import forms

from . import registry
from .models import ExportFormat


class ExportForm(forms.Form):
    """What the list's Export menu posts: which list, its query string as on screen, and the file format."""

    model = forms.ChoiceField(choices=())
    query = forms.CharField(required=False, max_length=4_000)
    format = forms.ChoiceField(choices=ExportFormat.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(key, key) for key in registry.model_keys()]
