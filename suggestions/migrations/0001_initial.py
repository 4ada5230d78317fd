import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Takes over monitoring's SuggestionDismissal and its table, unchanged."""

    initial = True

    dependencies = [
        ("monitoring", "0006_suggestion_dismissal_moves_to_suggestions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SuggestionDismissal",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=64)),
                        ("object_id", models.PositiveBigIntegerField()),
                        ("dismissed_count", models.PositiveIntegerField()),
                        ("dismissed_at", models.DateTimeField(auto_now=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="dismissals",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_suggestiondismissal",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("user", "key", "object_id"),
                                name="unique_dismissal_per_user",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
