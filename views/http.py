"""The request type our views receive."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """An HttpRequest after django-htmx's middleware has set `request.htmx`."""

    htmx: HtmxDetails
