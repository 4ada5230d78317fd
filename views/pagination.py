from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from .http import HtmxHttpRequest

PER_PAGE = 50


class KnownCountPaginator(Paginator):
    """A paginator told how many items there are, instead of counting them."""

    def __init__(self, object_list: QuerySet, per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


def page_of(
    request: HtmxHttpRequest,
    items: QuerySet,
    count: int | None = None,
    per_page: int = PER_PAGE,
) -> Page:
    """The requested page; a missing or bad `page` gives the first or last page, not 404.

    `count`, when the caller knows it from stored numbers, saves counting the items.
    """
    if count is None:
        paginator = Paginator(items, per_page)
    else:
        paginator = KnownCountPaginator(items, per_page, count)
    return paginator.get_page(request.GET.get("page"))


def with_rows(page: Page, rows: Callable[[Sequence[Any]], list[Any]]) -> Page:
    """`page` with its items turned into `rows(items)`: what the template shows of each,
    worked out once per row (views.display) instead of by filters cell by cell."""
    page.object_list = rows(page.object_list)
    return page
