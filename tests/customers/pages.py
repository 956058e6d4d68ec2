"""Reading what a user sees on the customer pages."""

import re

from django.contrib.messages import get_messages


def listed_ids(response) -> list[int]:
    """Customer ids in the list's rows, in display order (each row has a bulk-selection checkbox)."""
    return [int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', response.content.decode())]


def messages_of(response) -> list[str]:
    """The flash messages the request left for the next page."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def field_errors(response, name: str) -> list[str]:
    return list(response.context["form"].errors.get(name, []))


def form_data(form) -> dict:
    """The POST data of an unbound form as a browser would submit it untouched (initial values)."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    return data
