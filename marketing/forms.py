"""The campaign form. It lists its fields explicitly; the owners and teams offered are those the user may hand
campaigns to (marketing.selectors.campaign_owner_choices, crm.accounts.selectors.visible_teams)."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import Team
from crm.accounts.selectors import visible_teams

from .models import Campaign
from .selectors import campaign_owner_choices

User = get_user_model()
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "code", "channel", "status", "start_date", "end_date", "budget", "actual_cost", "owner",
                  "team", "notes"]
        widgets = {"start_date": DATE, "end_date": DATE, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The present owner and team stay choosable (an admin may have set them), whoever they are.
        owners = Q(pk__in=campaign_owner_choices(user=user).values("pk"))
        teams = Q(pk__in=visible_teams(user=user).values("pk"))
        if self.instance.pk is not None:
            owners |= Q(pk=self.instance.owner_id)
            teams |= Q(pk=self.instance.team_id)
        else:
            self.initial.setdefault("owner", user.pk)
            self.initial.setdefault("team", user.team_id)
        self.fields["owner"].queryset = User.objects.filter(owners).order_by("username")
        self.fields["team"].queryset = Team.objects.filter(teams).order_by("name")
        # Left empty, a new campaign is the user's own and an edited one keeps its owner (marketing.services).
        self.fields["owner"].required = False
        self.fields["owner"].empty_label = _("— unchanged —") if self.instance.pk else _("— me —")
        self.fields["team"].empty_label = _("— the whole company —")
        self.fields["actual_cost"].help_text = _("What was spent, in CNY. Leave it empty until it is known: the "
                                                 "report then says the cost is missing rather than counting 0.")

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.Meta.fields}
