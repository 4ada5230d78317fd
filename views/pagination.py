from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from .http import HtmxHttpRequest

PER_PAGE = 50


def page_of(request: HtmxHttpRequest, items: QuerySet) -> Page:
    """The requested page; a missing or bad `page` gives the first or last page, not 404."""
    return Paginator(items, PER_PAGE).get_page(request.GET.get("page"))
