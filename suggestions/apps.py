from django.apps import AppConfig


class SuggestionsConfig(AppConfig):
    name = "suggestions"
    verbose_name = "Suggested actions"

    def ready(self) -> None:
        from monitoring.signals import ungrouped_count_changed

        from .ungrouped_captures import follow_ungrouped_count

        ungrouped_count_changed.connect(follow_ungrouped_count, dispatch_uid="follow-ungrouped")
