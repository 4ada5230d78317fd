"""Who hid which card, at what count; a dismissal follows its problem down and ends with it."""

from __future__ import annotations

from .kinds import CardState, User
from .models import SuggestionDismissal


def dismiss(user: User, key: str, object_id: int, count: int) -> None:
    """Hide a card for this user until its count grows past `count`.

    A count of zero has nothing to hide (and a dismissal must never outlive the problem).
    """
    if count <= 0:
        return
    SuggestionDismissal.objects.update_or_create(
        user=user, key=key, object_id=object_id, defaults={"dismissed_count": count}
    )


def undismiss(user: User, key: str, object_id: int) -> None:
    """Show a hidden card again, for this user."""
    SuggestionDismissal.objects.filter(user=user, key=key, object_id=object_id).delete()


def is_dismissed(user: User, key: str, object_id: int, count: int, state: CardState) -> bool:
    """Whether this user hid the card at a count this one doesn't exceed. A running or
    finished job's card is never hidden: the user asked for it."""
    if not user.is_authenticated or state in (CardState.RUNNING, CardState.DONE):
        return False
    return SuggestionDismissal.objects.filter(
        user=user, key=key, object_id=object_id, dismissed_count__gte=count
    ).exists()


def follow_count(key: str, object_id: int, count: int) -> None:
    """Keep the dismissals of a card in step with its freshly stored count.

    At zero the problem is over, so every dismissal of it ends: captures synced later are
    news again. A smaller count lowers the dismissed one, so the card comes back as soon as
    the number grows from wherever it went (not only past the number first hidden).
    """
    dismissals = SuggestionDismissal.objects.filter(key=key, object_id=object_id)
    if count == 0:
        dismissals.delete()
    else:
        dismissals.filter(dismissed_count__gt=count).update(dismissed_count=count)
