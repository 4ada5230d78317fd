"""Demo data that reproduces the real incident in small.

A private project with four light-trap deployments. The big one was grouped for its first
three quarters of nights, then its last quarter was synced without grouping: about 25% of
its captures have no session, and since the summer nights are the busy ones, about 70% of
its occurrences show "no session". A few captures have no timestamp, and one capture set
is still empty.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from .grouping import regroup_deployment
from .models import (
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    ProjectMembership,
    SourceImage,
    SourceImageCollection,
    Taxon,
)

PROJECT_NAME = "Fenland Moth Survey"
MANAGER = ("demo", "demo-moths")
MEMBER = ("viewer", "demo-moths")
DEFAULT_CAPTURES = 30_000
SMALL_DEPLOYMENT_NIGHTS = 8
CAPTURES_PER_NIGHT = 480  # one every minute from 21:00 to 05:00
UNDATED_CAPTURES = 12
FIRST_NIGHT = datetime(2023, 3, 1, 21, 0, tzinfo=UTC)
BATCH_SIZE = 5_000

TAXA = [
    "Noctua pronuba",
    "Agrotis exclamationis",
    "Xestia c-nigrum",
    "Ochropleura plecta",
    "Mythimna impura",
    "Hoplodrina octogenaria",
    "Opisthograptis luteolata",
    "Idaea aversata",
    "Camptogramma bilineata",
    "Hepialus humuli",
    "Spilosoma lubricipeda",
    "Deilephila elpenor",
    "Laothoe populi",
    "Phragmatobia fuliginosa",
    "Autographa gamma",
    "Diarsia rubi",
    "Apamea monoglypha",
    "Cosmia trapezina",
    "Eilema lurideola",
    "Pterostoma palpina",
]

SMALL_DEPLOYMENTS = ["Wicken Fen · Trap B", "Woodwalton Fen", "Holme Fen"]
BIG_DEPLOYMENT = "Wicken Fen · Trap A"


@dataclass
class DemoSummary:
    project: Project
    created: bool
    big_deployment: Deployment | None = None


def build_demo(
    captures: int = DEFAULT_CAPTURES,
    reset: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> DemoSummary:
    """Create the demo project unless it exists (or rebuild it when `reset`).

    A rebuild keeps the ids of the project and of its deployments, so pages open in a
    browser still lead somewhere: only what is under the deployments is made anew.
    """
    existing = Project.objects.filter(name=PROJECT_NAME).first()
    if existing and not reset:
        _ensure_users(existing)
        return DemoSummary(
            project=existing,
            created=False,
            big_deployment=existing.deployments.filter(name=BIG_DEPLOYMENT).first(),
        )
    if existing:
        say(f"Emptying the demo project {existing.pk} (its id and its deployments' stay)…")
        _empty(existing)

    rng = random.Random(20230301)
    with transaction.atomic():
        project = existing or Project(name=PROJECT_NAME)
        project.description = (
            "Automated light traps on three fenland reserves, photographing moths "
            "every minute from dusk to dawn."
        )
        project.is_private = True
        project.save()
        _ensure_users(project)
        taxa = [Taxon.objects.get_or_create(name=name)[0] for name in TAXA]
        SourceImageCollection.objects.create(
            project=project,
            name="Summer sample for identification",
            method=SourceImageCollection.Method.RANDOM,
            kwargs={"size": 200},
        )

    for index, name in enumerate(SMALL_DEPLOYMENTS):
        deployment, _ = Deployment.objects.get_or_create(project=project, name=name)
        say(f"{name}: {SMALL_DEPLOYMENT_NIGHTS * CAPTURES_PER_NIGHT:,} captures, grouped")
        night_starts = _night_starts(rng, SMALL_DEPLOYMENT_NIGHTS, offset_days=index * 3)
        nights = _add_nights(deployment, night_starts, rng)
        regroup_deployment(deployment)
        _add_occurrences(deployment, nights, taxa, rng, count=len(nights) * 12)
        _refresh_counts(deployment)

    big, _ = Deployment.objects.get_or_create(project=project, name=BIG_DEPLOYMENT)
    total_nights = max(4, -(-captures // CAPTURES_PER_NIGHT))
    synced_nights = total_nights - round(total_nights / 4)
    night_starts = _night_starts(rng, total_nights, offset_days=0)
    # Exactly `captures`, spread evenly so the ungrouped quarter of nights holds ~25%.
    per_night = [
        captures // total_nights + (night < captures % total_nights)
        for night in range(total_nights)
    ]
    say(f"{BIG_DEPLOYMENT}: {captures:,} captures over {total_nights:,} nights")
    grouped = _add_nights(big, night_starts[:synced_nights], rng, per_night[:synced_nights])
    regroup_deployment(big)
    say(f"  last {total_nights - synced_nights:,} nights synced without grouping")
    ungrouped = _add_nights(big, night_starts[synced_nights:], rng, per_night[synced_nights:])
    SourceImage.objects.bulk_create(
        SourceImage(deployment=big, project=project, path=f"{big.pk}/undated/{n:03d}.jpg")
        for n in range(UNDATED_CAPTURES)
    )
    busy = max(10, captures // 20)
    _add_occurrences(big, grouped, taxa, rng, count=busy * 3 // 10)
    _add_occurrences(big, ungrouped, taxa, rng, count=busy * 7 // 10)
    _refresh_counts(big)
    return DemoSummary(project=project, created=True, big_deployment=big)


def _empty(project: Project) -> None:
    """Delete all the demo's data but the project and its deployments (whose stored counts
    are recounted as they fill again), children before parents."""
    deployments = project.deployments.all()
    with transaction.atomic():
        project.jobs.all().delete()
        project.capture_sets.all().delete()
        Detection.objects.filter(source_image__project=project).delete()
        Occurrence.objects.filter(project=project).delete()
        SourceImage.objects.filter(project=project).delete()
        Event.objects.filter(project=project).delete()
        deployments.exclude(name__in=[*SMALL_DEPLOYMENTS, BIG_DEPLOYMENT]).delete()
        # Empty now, and saying so: whatever followed their old numbers (a user's hidden
        # card) ends with them. Their sessions are gone, and with them the settings those
        # were drawn under.
        deployments.update(sessions_gap_seconds=None, sessions_rules_version=None)
        for deployment in deployments:
            deployment.update_calculated_fields()


def _refresh_counts(deployment: Deployment) -> None:
    """Occurrences were added after grouping: recount the sessions, then the deployment."""
    Event.objects.filter(deployment=deployment).update_calculated_fields()
    deployment.update_calculated_fields()


def _ensure_users(project: Project) -> None:
    users = get_user_model().objects
    for (username, password), role in [
        (MANAGER, ProjectMembership.Role.PROJECT_MANAGER),
        (MEMBER, ProjectMembership.Role.BASIC_MEMBER),
    ]:
        user = users.filter(username=username).first()
        if user is None:
            user = users.create_user(username=username, password=password)
        ProjectMembership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )


def _night_starts(rng: random.Random, nights: int, offset_days: int) -> list[datetime]:
    """Dusk of each night, a few minutes apart from night to night; some nights skipped."""
    starts = []
    day = offset_days
    while len(starts) < nights:
        day += 2 if rng.random() < 0.08 else 1  # the trap is sometimes down for a night
        starts.append(FIRST_NIGHT + timedelta(days=day, minutes=rng.randint(-20, 20)))
    return starts


def _add_nights(
    deployment: Deployment,
    night_starts: list[datetime],
    rng: random.Random,
    per_night: list[int] | None = None,
) -> list[list[int]]:
    """Insert the captures of each night, ungrouped; return their ids night by night."""
    counts = per_night or [CAPTURES_PER_NIGHT] * len(night_starts)
    nights: list[list[int]] = []
    batch: list[SourceImage] = []
    night_of_batch: list[int] = []

    def flush() -> None:
        for night, capture in zip(
            night_of_batch, SourceImage.objects.bulk_create(batch), strict=True
        ):
            nights[night].append(capture.pk)
        batch.clear()
        night_of_batch.clear()

    for night, (start, count) in enumerate(zip(night_starts, counts, strict=True)):
        nights.append([])
        for shot in range(count):
            capture = SourceImage(
                deployment=deployment,
                project_id=deployment.project_id,
                timestamp=start + timedelta(seconds=60 * shot + rng.randint(0, 2)),
                path=f"{deployment.pk}/{start:%Y%m%d}/{shot:04d}.jpg",
                size=rng.randint(1_800_000, 2_600_000),
                width=4096,
                height=2160,
            )
            batch.append(capture)
            night_of_batch.append(night)
            if len(batch) >= BATCH_SIZE:
                flush()
    if batch:
        flush()
    return nights


def _add_occurrences(
    deployment: Deployment,
    nights: list[list[int]],
    taxa: list[Taxon],
    rng: random.Random,
    count: int,
) -> None:
    """Occurrences of 1-3 detections on consecutive captures of one night.

    Each takes the session of its first capture, as the platform's pipeline sets it.
    """
    sessions = dict(
        SourceImage.objects.filter(deployment=deployment, event__isnull=False).values_list(
            "pk", "event_id"
        )
    )
    chosen_nights = rng.choices(nights, weights=[len(night) for night in nights], k=count)
    for start in range(0, count, BATCH_SIZE):
        occurrences, detections = [], []
        for night in chosen_nights[start : start + BATCH_SIZE]:
            first = rng.randrange(len(night))
            captures = night[first : first + rng.randint(1, 3)]
            occurrences.append(
                Occurrence(
                    project_id=deployment.project_id,
                    deployment=deployment,
                    event_id=sessions.get(captures[0]),
                    determination=rng.choice(taxa),
                    determination_score=round(rng.uniform(0.4, 0.99), 2),
                )
            )
            detections.append(captures)
        Occurrence.objects.bulk_create(occurrences)
        Detection.objects.bulk_create(
            Detection(source_image_id=capture, occurrence=occurrence, bbox=_random_box(rng))
            for occurrence, captures in zip(occurrences, detections, strict=True)
            for capture in captures
        )


def _random_box(rng: random.Random) -> list[int]:
    x, y, size = rng.randint(0, 3800), rng.randint(0, 1900), rng.randint(60, 260)
    return [x, y, x + size, y + size]
