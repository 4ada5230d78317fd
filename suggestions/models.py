from django.conf import settings
from django.db import models


class SuggestionDismissal(models.Model):
    """A user hid a suggested-action card at some count; it returns if the count grows.

    The stored count follows the problem down (suggestions.dismissals): lowered when the
    count shrinks, deleted when it reaches zero.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dismissals"
    )
    key = models.CharField(max_length=64)
    object_id = models.PositiveBigIntegerField()
    dismissed_count = models.PositiveIntegerField()
    dismissed_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table it had when it lived in the monitoring app: moved without copying.
        db_table = "monitoring_suggestiondismissal"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key", "object_id"], name="unique_dismissal_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} dismissed {self.key} #{self.object_id} at {self.dismissed_count}"
