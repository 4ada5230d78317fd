"""manage.py seed_demo [--captures N] [--reset]: the incident, in small."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from monitoring.demo import DEFAULT_CAPTURES, MANAGER, MEMBER, build_demo
from monitoring.management.commands.regroup import positive_int


class Command(BaseCommand):
    help = (
        "Create a demo project whose big deployment has its last quarter of nights "
        "ungrouped. Does nothing if the demo exists, unless --reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--captures",
            type=positive_int,
            default=DEFAULT_CAPTURES,
            help=f"Captures of the big deployment (default {DEFAULT_CAPTURES:,}).",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo's data and build it again; the project and deployment ids stay.",
        )

    def handle(self, *args, captures: int, reset: bool, **options) -> None:
        started = time.monotonic()
        demo = build_demo(captures=captures, reset=reset, say=self.stdout.write)
        project = demo.project
        if demo.created:
            big = demo.big_deployment
            self.stdout.write(
                self.style.SUCCESS(
                    f"Built {project} (id {project.pk}) in {time.monotonic() - started:.1f} s: "
                    f"{big} has {big.source_images_without_event_count:,} of "
                    f"{big.captures_count:,} captures without a session."
                )
            )
        else:
            self.stdout.write(f"{project} (id {project.pk}) exists; left as it is (--reset).")
        # A reset keeps these, so pages already open in a browser still work.
        self.stdout.write(f"Project page: {project.get_absolute_url()}")
        if demo.big_deployment is not None:
            self.stdout.write(
                f"{demo.big_deployment} (its ungrouped captures): "
                f"{demo.big_deployment.get_absolute_url()}"
            )
        self.stdout.write(
            f"Sign in as {MANAGER[0]} / {MANAGER[1]} (project manager) "
            f"or {MEMBER[0]} / {MEMBER[1]} (member)."
        )
