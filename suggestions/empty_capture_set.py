"""An empty capture set (Populate)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs.models import POPULATE_JOB, Job
from jobs.presenters import StageView
from monitoring.models import SourceImageCollection

from .kinds import Suggestion, SuggestionKind, Viewer, card_state


class EmptyCaptureSet(SuggestionKind):
    key = "empty-capture-set"
    action_label = "Populate"
    running_title = "Populating this capture set…"
    done_title = "The capture set is populated."
    who_can_act = "A project manager can populate it"

    def title(self, suggestion: Suggestion) -> SafeString:
        return SafeString("This capture set is empty.")

    def done_next(self, target: SourceImageCollection) -> SafeString:
        return format_html(
            '<a href="{}">Reload the page</a> to see its size.',
            reverse("capture-set-list", args=[target.project_id]),
        )

    def cancelled(self, by_viewer: bool, progress: StageView | None) -> str:
        if by_viewer:
            return "You cancelled populating this capture set."
        return "Populating this capture set was cancelled."


EMPTY_CAPTURE_SET = EmptyCaptureSet()


def empty_capture_set(
    collection: SourceImageCollection,
    viewer: Viewer,
    job: Job | None,
    just_finished: bool = False,
) -> Suggestion | None:
    """The capture set's "empty — Populate" card. `job` is its latest populate job."""
    # The "count" of an empty set is the one thing missing: its captures.
    missing = 0 if collection.source_images_count else 1
    state = card_state(missing, job, just_finished)
    if state is None:
        return None
    return Suggestion(EMPTY_CAPTURE_SET, collection, missing, state, viewer, job)


def empty_capture_sets(
    collections: list[SourceImageCollection], viewer: Viewer
) -> dict[int, Suggestion]:
    """The cards of a page of capture sets, by set id, in one query for all their jobs."""
    latest = Job.objects.of_type(POPULATE_JOB).by_target(collections)
    cards = {c.pk: empty_capture_set(c, viewer, latest.get(c.pk)) for c in collections}
    return {pk: card for pk, card in cards.items() if card is not None}
