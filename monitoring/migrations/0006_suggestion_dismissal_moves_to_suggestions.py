from django.db import migrations


class Migration(migrations.Migration):
    """SuggestionDismissal now belongs to the suggestions app; its table stays as it is
    (suggestions/migrations/0001_initial.py takes it over)."""

    dependencies = [
        ("monitoring", "0005_occurrence_taxon_index_covers_banner"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SuggestionDismissal")],
            database_operations=[],
        ),
    ]
