"""What marketing contributes to the lead pages (sales.lead_campaigns): the campaigns a lead form and the lead list
offer, the campaign a web-form code names, and the campaigns of imported leads' codes."""

from sales.lead_campaigns import CampaignHooks, register
from sales.models import Lead

from . import permissions as policy
from .models import Campaign
from .selectors import campaign_choices


def _choices(user, current):
    return campaign_choices(user=user, current=current)


def _filter_choices(user):
    return policy.campaigns_for(user).order_by("-start_date", "-pk")


def _by_code(code: str):
    return Campaign.objects.filter(code=code).first()


def _link_imported(cursor, job) -> None:
    # The file's campaign column fills the lead's code; a code that names a recorded campaign counts the lead for it,
    # as the web form does.
    cursor.execute(
        f"""UPDATE {Lead._meta.db_table} l SET marketing_campaign_id = c.id
            FROM imports_importrow r, {Campaign._meta.db_table} c
            WHERE r.job_id = %s AND r.action = 'create' AND l.id = r.object_id
              AND l.marketing_campaign_id IS NULL AND l.campaign <> '' AND c.code = l.campaign""",
        [job.pk],
    )


def contribute() -> None:
    register(CampaignHooks(choices=_choices, filter_choices=_filter_choices, by_code=_by_code,
                           link_imported=_link_imported))
