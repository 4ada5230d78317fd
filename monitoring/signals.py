"""What the domain announces, for layers above it to follow without being imported here."""

from django.dispatch import Signal

# Sent with `deployment` after its stored count of captures without a session was saved
# with a new value.
ungrouped_count_changed = Signal()
