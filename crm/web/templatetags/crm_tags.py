import re

import phonenumbers
from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (for sort links and pagination)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return "?" + query.urlencode()


@register.filter
def masked(value, allowed: bool):
    """A mobile or email shown in part to roles without the view_sensitive permission."""
    text = str(value or "")
    if allowed or not text:
        return text
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{text[:3]}****{text[-4:]}" if len(text) > 8 else "****"


_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


@register.filter
def masked_addresses(text, allowed: bool):
    """Every email address in a text (a mail's From or To line) masked, for roles that may not see them."""
    if allowed or not text:
        return text
    return _ADDRESS.sub(lambda match: masked(match.group(0), False), str(text))


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def phone(value):
    """Chinese numbers in the national form people read (138 1234 5678, 010 1234 5678); others with +code."""
    if not value:
        return ""
    number = getattr(value, "_phonenumber", None) or value
    try:
        if not isinstance(number, phonenumbers.PhoneNumber):
            number = phonenumbers.parse(str(value), "CN")
        fmt = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if number.country_code == 86
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return phonenumbers.format_number(number, fmt)
    except phonenumbers.NumberParseException:
        return str(value)


_WIDGET_CLASS = {
    "select": "form-select",
    "selectmultiple": "form-select",
    "csvselect": "form-select",  # django-filter's OrderingFilter
    "checkbox": "form-check-input",
    "radioselect": "form-check-input",
    "checkboxselectmultiple": "form-check-input",
}


@register.filter
def bs(bound_field):
    """Render a form field's widget with Bootstrap's classes, marked invalid when it has errors."""
    css = _WIDGET_CLASS.get(bound_field.widget_type, "form-control")
    if bound_field.errors:
        css += " is-invalid"
    existing = bound_field.field.widget.attrs.get("class", "")
    return bound_field.as_widget(attrs={"class": f"{existing} {css}".strip()})
