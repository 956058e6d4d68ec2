"""The five roles, as auth groups with module permissions. Synced after every migrate, idempotently."""

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

ADMIN = "admin"
SALES_MANAGER = "sales_manager"
SALES_REP = "sales_rep"
MARKETING = "marketing"
SUPPORT_AGENT = "support_agent"
ALL_ROLES = [ADMIN, SALES_MANAGER, SALES_REP, MARKETING, SUPPORT_AGENT]

_CUSTOMER_WORK = [
    "customers.view_customer", "customers.add_customer", "customers.change_customer",
    "customers.delete_customer", "customers.view_contact", "customers.add_contact",
    "customers.change_contact", "customers.delete_contact", "customers.view_tag",
    "customers.share_customer", "customers.claim_customer",
]
# The interaction log and follow-ups (issue 4), for everyone who works with customers. Installations that
# existed before get these from interactions' data migration 0002 (roles keep an admin's edits otherwise).
INTERACTION_WORK = [
    "interactions.view_interaction", "interactions.add_interaction", "interactions.change_interaction",
    "interactions.view_followup", "interactions.add_followup", "interactions.change_followup",
    "interactions.view_mailmessage",
]
INTERACTION_READING = ["interactions.view_interaction", "interactions.view_followup"]
# Sales (issue 5). Existing installations get these from sales' data migration 0002.
SALES_WORK = [
    f"sales.{action}_{model}"
    for model in ("lead", "opportunity", "opportunityline", "quote", "quoteline", "contract", "order", "orderline",
                  "paymentplan", "payment")
    for action in ("view", "add", "change")
] + ["sales.view_product", "sales.view_pricelist", "sales.view_pipeline", "sales.view_stage", "sales.claim_lead"]
# Campaigns (市场活动): marketing runs them, the sales roles read them (a lead names its campaign). Existing
# installations get these from marketing's data migration 0002.
CAMPAIGN_WORK = [f"marketing.{action}_campaign" for action in ("view", "add", "change", "delete")]
CAMPAIGN_READING = ["marketing.view_campaign"]
SALES_MANAGEMENT = ["sales.assign_lead", "sales.import_lead", "sales.delete_lead", "sales.delete_opportunity",
                    "sales.export_opportunity", "sales.export_order"]

# Module permissions per role. Record scope (which customers) is decided by customers.permissions;
# these only decide which modules and actions a role has at all.
ROLE_PERMISSIONS = {
    ADMIN: None,  # every permission
    SALES_MANAGER: _CUSTOMER_WORK + INTERACTION_WORK + SALES_WORK + SALES_MANAGEMENT + [
        "customers.add_tag", "customers.change_tag", "customers.assign_customer",
        "customers.view_sensitive_customer", "customers.export_customer",
        # The activity lists' export (issue 4); existing installations get it from interactions' migration 0004.
        "interactions.export_interaction", *CAMPAIGN_READING,
    ],
    SALES_REP: _CUSTOMER_WORK + INTERACTION_WORK + SALES_WORK + ["customers.view_sensitive_customer",
                                                                 *CAMPAIGN_READING],
    MARKETING: ["customers.view_customer", "customers.view_contact", "customers.view_tag",
                "customers.export_customer", *INTERACTION_READING,
                "sales.view_lead", "sales.add_lead", "sales.import_lead", "sales.view_product", *CAMPAIGN_WORK],
    SUPPORT_AGENT: ["customers.view_customer", "customers.view_contact", "customers.view_tag",
                    "customers.view_sensitive_customer", *INTERACTION_WORK,
                    "sales.view_order", "sales.view_orderline", "sales.view_contract", "sales.view_product"],
}


def _permissions(names):
    if names is None:
        return Permission.objects.all()
    pairs = [name.split(".", 1) for name in names]
    perms = list(
        Permission.objects.filter(content_type__app_label__in={a for a, _ in pairs}, codename__in={c for _, c in pairs})
        .select_related("content_type")
    )
    wanted = {tuple(p) for p in pairs}
    return [p for p in perms if (p.content_type.app_label, p.codename) in wanted]


def sync_roles():
    """Create missing roles with their default permissions. An existing role keeps the permissions an
    administrator gave it (the next migrate must not undo his edits); only the admin role is brought up to
    every permission, new modules' included, because that is what the role means. A later module that
    gives other roles new permissions does so in a data migration of its own."""
    for role, names in ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created or names is None:
            group.permissions.set(_permissions(names))


def sync_roles_after_migrate(sender, app_config=None, using="default", **kwargs):
    # post_migrate fires once per app that has models, in INSTALLED_APPS order, after that app's
    # permissions are created; at the last such app every permission exists.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if app_config is with_models[-1]:
        sync_roles()


def role_label(group) -> str:
    return str(settings.ROLE_LABELS.get(group.name, group.name))


def user_roles(user):
    """The user's role names, read once per user object (a request holds one)."""
    if not hasattr(user, "_crm_roles"):
        user._crm_roles = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return user._crm_roles


def is_admin(user):
    return user.is_superuser or ADMIN in user_roles(user)


def require_admin(user) -> None:
    """Refuse (403, as every administration page does) anyone but an administrator."""
    if not is_admin(user):
        raise PermissionDenied
