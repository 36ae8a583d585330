"""Build the demo zone of docs/domain.md §8, idempotently: running it twice duplicates nothing.

Reference data is keyed by code (and assignments by their full slot and start date); demo
accounts by username; demo cases by a client token derived from the case's name. Cases are
made through the issue services, each step replayed at the moment `devtools.demo.timeline` plans
for it on the work calendar (office hours on working days, whenever the command runs), so event
times, timestamps, deadlines and the green/yellow/red timer lights all agree.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from devtools.demo import data as demo_data
from devtools.demo.data import ACCOUNTS, CASES, DEMO_PASSWORD, Step
from devtools.demo.photos import draw_photo
from devtools.demo.timeline import CasePlan, PlannedStep, Planner
from districts import services as districts_services
from districts.models import (
    Category,
    CheckItem,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    PointType,
    Responsibility,
    Role,
    Zone,
)
from districts.taxonomy import install_default_taxonomy
from issues import services, workflow
from issues.models import Action, ExtensionRequest, Issue
from issues.photos import prepare_photos

User = get_user_model()

URL = "http://127.0.0.1:8000"
# Demo cases are keyed by uuid5(namespace, case key): the same case always has the same token.
DEMO_NAMESPACE = uuid.UUID("6f1c3a52-8c1e-4f0e-9d7a-6a3f2b1c0de1")
PHOTO_KIND = {
    "submit_fix": "after",
    "fix_on_spot": "after",
    "verify_pass": "check",
    "verify_fail": "check",
}


def case_token(key: str) -> uuid.UUID:
    """The client token of a demo case: stable across runs and machines."""
    return uuid.uuid5(DEMO_NAMESPACE, key)


class Command(BaseCommand):
    help = (
        "Load the demo zone (通辽经济技术开发区: 新城街道 and 滨河街道) with places, "
        "organisations, assignments, an account for every role and a few dozen cases. "
        "Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-issues", action="store_true", help="Load places, organisations and accounts only."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even with DEBUG off (the demo creates a superuser with a known password).",
        )

    def handle(self, *args, **options):
        # The demo's accounts share a published password: never on a production database.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "load_demo creates accounts with a known password; it runs only with DEBUG on "
                "(./dev demo sets it), or with --force."
            )
        now = timezone.now()
        with transaction.atomic():
            self.load_places()
            self.load_organisations()
            self.load_responsibilities()
            accounts = self.load_accounts()
        created = 0 if options["no_issues"] else self.load_cases(now=now)
        self.print_summary(accounts, created)

    # --- places ----------------------------------------------------------------------------

    def load_places(self) -> None:
        install_default_taxonomy(
            zone_model=Zone,
            point_type_model=PointType,
            check_item_model=CheckItem,
            category_model=Category,
            zone_code=settings.DEFAULT_ZONE_CODE,
            overwrite=False,
        )
        zone = Zone.objects.get(code=settings.DEFAULT_ZONE_CODE)
        for code, name, name_en, sort_order in demo_data.DISTRICTS:
            District.objects.update_or_create(
                code=code,
                defaults={"zone": zone, "name": name, "name_en": name_en, "sort_order": sort_order},
            )
        districts = {d.code: d for d in District.objects.all()}
        for code, district, name, name_en, households, residents, lat, lng in demo_data.COMMUNITIES:
            Community.objects.update_or_create(
                code=code,
                defaults={
                    "district": districts[district],
                    "name": name,
                    "name_en": name_en,
                    "households": households,
                    "residents": residents,
                    "latitude": Decimal(lat),
                    "longitude": Decimal(lng),
                },
            )
        communities = {c.code: c for c in Community.objects.all()}
        point_types = {t.code: t for t in PointType.objects.all()}
        for code, community, point_type, name, address, lat, lng in demo_data.POINTS:
            InspectionPoint.objects.update_or_create(
                code=code,
                defaults={
                    "community": communities[community],
                    "point_type": point_types[point_type],
                    "name": name,
                    "address": address,
                    "latitude": Decimal(lat),
                    "longitude": Decimal(lng),
                },
            )

    # --- organisations and assignments -----------------------------------------------------

    def load_organisations(self) -> None:
        districts = {d.code: d for d in District.objects.all()}
        for code, name, name_en, kind, parent, district, contact, phone in demo_data.ORGANISATIONS:
            Organisation.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "name_en": name_en,
                    "kind": kind,
                    "parent": Organisation.objects.get(code=parent) if parent else None,
                    "district": districts[district] if district else None,
                    "contact_name": contact,
                    "contact_phone": phone,
                },
            )
        street_offices = {
            o.district_id: o for o in Organisation.objects.filter(kind=demo_data.STREET_OFFICE)
        }
        for community in Community.objects.filter(code__in=_community_codes()):
            Organisation.objects.update_or_create(
                code=f"office-{community.code}",
                defaults={
                    "name": f"{community.name}{demo_data.COMMUNITY_OFFICE_SUFFIX}",
                    "name_en": f"{community.name_en} Residents' Committee",
                    "kind": demo_data.COMMUNITY_OFFICE,
                    "parent": street_offices.get(community.district_id),
                    "district": community.district,
                },
            )

    def load_responsibilities(self) -> None:
        """Every demo assignment through `responsibility_assign`, so each has its audit row.

        The zone office made them on the day they start (ASSIGNMENTS_FROM); a slot that already
        holds the demo's assignment is left alone, so a second run changes nothing.
        """
        import time_machine

        orgs = {o.code: o for o in Organisation.objects.all()}
        start = demo_data.ASSIGNMENTS_FROM
        made_on = timezone.make_aware(datetime.datetime.combine(start, datetime.time(9, 0)))

        def assign(kind: str, organisation: str, **scope) -> None:
            lead_person, lead_phone = scope.pop("lead", ("", ""))
            slot = districts_services.responsibility_slot_filter(
                kind=kind,
                district=scope.get("district"),
                community=scope.get("community"),
                point=scope.get("point"),
                category=scope.get("category"),
            )
            if Responsibility.objects.filter(slot, valid_from=start).exists():
                return
            with time_machine.travel(made_on, tick=False):
                districts_services.responsibility_assign(
                    actor=None,
                    kind=kind,
                    organisation=orgs[organisation],
                    lead_person=lead_person,
                    lead_phone=lead_phone,
                    valid_from=start,
                    **scope,
                )

        for district in District.objects.filter(code__in=[d[0] for d in demo_data.DISTRICTS]):
            assign(OwnerKind.TERRITORIAL, f"office-{district.code}", district=district)
        for community in Community.objects.filter(code__in=_community_codes()).exclude(
            code__in=demo_data.COMMUNITIES_WITHOUT_OWN_TERRITORIAL
        ):
            assign(OwnerKind.TERRITORIAL, f"office-{community.code}", community=community)
        for organisation, place_kind, place_code, lead, phone in demo_data.PAIRED:
            model = Community if place_kind == "community" else InspectionPoint
            place = model.objects.get(code=place_code)
            assign(OwnerKind.PAIRED, organisation, lead=(lead, phone), **{place_kind: place})
        for category in Category.objects.filter(owner_kind=OwnerKind.SECTOR):
            owner = demo_data.SECTOR_OWNERS.get(category.sector_hint)
            if owner:
                assign(OwnerKind.SECTOR, owner, category=category)

    # --- accounts --------------------------------------------------------------------------

    def load_accounts(self) -> list[tuple[str, str, str, str]]:
        """Create missing demo accounts; returns (username, role, scope, name) rows to print.

        Accounts and their scope go through the staff services (with their audit rows). Only a
        new account gets the demo password: a changed one stays changed. An existing account
        whose role or scope differs from the demo's is set back with `staff_update`.
        """
        districts = {d.code: d for d in District.objects.all()}
        orgs = {o.code: o for o in Organisation.objects.all()}
        accounts = list(ACCOUNTS)
        named = {account.organisation for account in accounts if account.role == Role.HANDLER}
        holders = (
            Organisation.objects.filter(responsibilities__isnull=False)
            .exclude(code__in=demo_data.ORGANISATIONS_WITHOUT_HANDLER)
            .exclude(code__in=named)
            .distinct()
        )
        kind_order = [
            demo_data.STREET_OFFICE,
            demo_data.COMMUNITY_OFFICE,
            demo_data.DEPARTMENT,
            demo_data.PROPERTY_COMPANY,
        ]
        holders = sorted(holders, key=lambda o: (kind_order.index(o.kind), o.code))
        for index, organisation in enumerate(holders):
            accounts.append(
                demo_data.Account(
                    username=demo_data.HANDLER_PREFIX
                    + organisation.code.removeprefix("office-").replace("-", "_"),
                    full_name=demo_data.HANDLER_NAMES[index % len(demo_data.HANDLER_NAMES)],
                    role=Role.HANDLER,
                    organisation=organisation.code,
                    phone=f"1390475{2000 + index:04d}",
                )
            )
        rows = []
        for account in accounts:
            self.put_account(account, districts=districts, orgs=orgs)
            if account.all_districts:
                scope = "all districts"
            else:
                scope = "、".join(districts[code].name for code in account.districts)
            if account.organisation:
                organisation_name = orgs[account.organisation].name
                scope = f"{scope} · {organisation_name}" if scope else organisation_name
            if account.superuser:
                scope += " (superuser)"
            rows.append((account.username, account.role, scope, account.full_name))
        return rows

    def put_account(self, account: demo_data.Account, *, districts: dict, orgs: dict) -> None:
        scope = {
            "role": account.role,
            "organisation": orgs[account.organisation] if account.organisation else None,
            "districts": [districts[code] for code in account.districts],
            "all_districts": account.all_districts,
            "phone": account.phone,
        }
        user = User.objects.select_related("membership").filter(username=account.username).first()
        if user is None and not account.superuser:
            districts_services.staff_create(
                actor=None,
                username=account.username,
                full_name=account.full_name,
                password=DEMO_PASSWORD,
                **scope,
            )
            return
        if user is None:
            # No service makes superusers (the staff pages never grant that power): Django's
            # own, as `createsuperuser` does; the membership then goes through the service.
            user = User.objects.create_superuser(
                username=account.username, password=DEMO_PASSWORD, first_name=account.full_name
            )
        membership = getattr(user, "membership", None)
        wanted = (
            scope["role"],
            scope["organisation"].pk if scope["organisation"] else None,
            sorted(d.pk for d in scope["districts"]) if not account.all_districts else [],
            account.all_districts,
            account.phone,
        )
        if membership is not None and wanted == (
            membership.role,
            membership.organisation_id,
            sorted(membership.districts.values_list("pk", flat=True)),
            membership.all_districts,
            membership.phone,
        ):
            return
        districts_services.staff_update(
            # Only a superuser may change a superuser's account: the demo's admin sets its own.
            actor=user if user.is_superuser else None,
            user=user,
            full_name=user.first_name,
            email=user.email,
            **scope,
        )

    # --- cases -----------------------------------------------------------------------------

    def load_cases(self, *, now: datetime.datetime) -> int:
        """Replay every demo case not yet loaded, planned for `now`; returns how many."""
        known = dict(
            Issue.objects.filter(
                client_token__in=[case_token(case.key) for case in CASES]
            ).values_list("client_token", "reported_at")
        )
        reported = {
            case.key: known[case_token(case.key)] for case in CASES if case_token(case.key) in known
        }
        codes = {case.category for case in CASES}
        categories = {c.code: c for c in Category.objects.filter(code__in=codes)}
        # Oldest first, so case numbers follow the order in which problems were reported, and a
        # case that refers to another (a duplicate) always finds it.
        plans = Planner(now, categories).plan(CASES, reported)
        cast = Cast.load()
        for plan in plans:
            try:
                CaseRunner(plan=plan, category=categories[plan.case.category], cast=cast).run()
            except Exception as error:
                raise CommandError(f"Demo case {plan.case.key!r} failed: {error!r}") from error
        return len(plans)

    # --- output ----------------------------------------------------------------------------

    def print_summary(self, accounts: list[tuple[str, str, str, str]], created: int) -> None:
        write = self.stdout.write
        write("")
        write(
            self.style.SUCCESS(
                f"Demo zone loaded: {District.objects.count()} districts, "
                f"{Community.objects.count()} communities, "
                f"{InspectionPoint.objects.count()} inspection points, "
                f"{Organisation.objects.count()} organisations, "
                f"{Issue.objects.count()} issues ({created} new)."
            )
        )
        write("")
        write(f"  Open {URL}  (Django admin: {URL}/admin/)")
        write(f"  Every demo account's password: {DEMO_PASSWORD}")
        write("")
        header = ("Username", "Role", "Scope / organisation", "Name")
        widths = [max(_width(row[i]) for row in [header, *accounts]) for i in range(len(header))]
        for row in [header, tuple("-" * w for w in widths), *accounts]:
            write("  " + "  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip())
        write("")


@dataclass(frozen=True)
class Cast:
    """Who and where the demo cases need, read once for all of them."""

    users: dict[str, Any]
    handlers: dict[int, Any]  # organisation id -> its first active handler
    points: dict[str, InspectionPoint]
    organisations: dict[str, Organisation]

    @classmethod
    def load(cls) -> Cast:
        users = list(User.objects.select_related("membership").order_by("pk"))
        handlers: dict[int, Any] = {}
        for user in users:
            membership = getattr(user, "membership", None)
            if user.is_active and membership is not None and membership.role == Role.HANDLER:
                handlers.setdefault(membership.organisation_id, user)
        return cls(
            users={user.username: user for user in users},
            handlers=handlers,
            points={
                point.code: point
                for point in InspectionPoint.objects.select_related("community__district")
            },
            organisations={o.code: o for o in Organisation.objects.all()},
        )


class CaseRunner:
    """Replays one planned demo case through the services, each step at its planned moment."""

    def __init__(self, *, plan: CasePlan, category: Category, cast: Cast) -> None:
        self.plan = plan
        self.case = plan.case
        self.point = cast.points[plan.case.point]
        self.category = category
        self.cast = cast
        self.users = cast.users
        rng = random.Random(plan.case.key)
        # Phones rarely stand exactly on the point: scatter a few metres around it.
        self.latitude = (self.point.latitude + Decimal(rng.uniform(-0.0004, 0.0004))).quantize(
            Decimal("0.000001")
        )
        self.longitude = (self.point.longitude + Decimal(rng.uniform(-0.0005, 0.0005))).quantize(
            Decimal("0.000001")
        )
        self.accuracy = round(rng.uniform(5, 25), 1)

    def photos(self, count: int, kind: str, moment: datetime.datetime, index: int) -> list:
        uploads = [
            SimpleUploadedFile(
                f"IMG_{moment.astimezone(timezone.get_current_timezone()):%Y%m%d_%H%M%S}_{n}.jpg",
                draw_photo(
                    seed=f"{self.case.key}:{index}:{n}",
                    kind=kind,
                    title=self.category.name,
                    title_en=self.category.name_en,
                    place=self.point.name,
                    taken_at=moment,
                    latitude=self.latitude,
                    longitude=self.longitude,
                ),
                content_type="image/jpeg",
            )
            for n in range(count)
        ]
        return prepare_photos(uploads) if uploads else []

    def run(self) -> None:
        import time_machine

        case, plan = self.case, self.plan
        # Decoding and re-encoding photos is slow: do it before the transaction, as views do.
        before = self.photos(case.photos, "before", plan.reported_at, 0)
        step_photos = [
            self.photos(
                planned.step.photos,
                PHOTO_KIND.get(planned.step.action, "after"),
                planned.at,
                index,
            )
            for index, planned in enumerate(plan.steps, start=1)
        ]
        with transaction.atomic():
            with time_machine.travel(plan.reported_at, tick=False):
                issue = services.issue_create(
                    reporter=self.users[case.reporter],
                    category=self.category,
                    description=case.description,
                    point=self.point,
                    community=self.point.community,
                    latitude=self.latitude,
                    longitude=self.longitude,
                    accuracy_m=self.accuracy,
                    address=self.point.address,
                    photos=before,
                    client_token=case_token(case.key),
                )
            for planned, photos in zip(plan.steps, step_photos, strict=True):
                with time_machine.travel(planned.at, tick=False):
                    issue = self.perform(issue, planned, photos)

    def actor_for(self, issue, step: Step):
        """The step's actor, else whom the transitions table lets take it, else the reporter."""
        if step.actor:
            return self.users[step.actor]
        roles = workflow.transition_for(step.action).roles
        if Role.HANDLER in roles:
            handler = self.cast.handlers.get(issue.assigned_organisation_id)
            if handler is None:
                raise CommandError(f"No handler for {issue.assigned_organisation}.")
            return handler
        if Role.SUPERVISOR in roles:
            # Binhe's own supervisor handles Binhe's cases; the zone-wide one the rest.
            binhe = self.point.community.district.code == "binhe"
            return self.users["dudao_binhe" if binhe else "dudao"]
        return self.users[self.case.reporter]

    def inputs_for(self, planned: PlannedStep, photos: list) -> dict[str, Any]:
        """The step's inputs under the names the transitions table gives them, as a form would.

        The step's text is the reason where the action asks for one, else the note. Dispatch
        deadlines are left out: the service computes the category's; only an extension names
        one (planned on the work calendar).
        """
        step = planned.step
        transition = workflow.transition_for(step.action)
        accepted = transition.requires | transition.optional
        inputs: dict[str, Any] = {}
        if step.text:
            inputs["reason" if "reason" in accepted else "note"] = step.text
        if step.organisation:
            inputs["organisation"] = self.cast.organisations[step.organisation]
        if photos:
            inputs["photos"] = photos
        if step.review_in_days:
            inputs["review_date"] = timezone.localdate() + datetime.timedelta(
                days=step.review_in_days
            )
        if step.duplicate_of:
            inputs["duplicate_of"] = Issue.objects.get(client_token=case_token(step.duplicate_of))
        if planned.requested_deadline is not None:
            inputs["requested_deadline"] = planned.requested_deadline
        if step.action == Action.ESCALATE:
            inputs["level"] = step.level
        unknown = set(inputs) - accepted - {"level"}
        if unknown:
            raise CommandError(f"Demo step {step.action!r} does not take {sorted(unknown)}.")
        return inputs

    def perform(self, issue, planned: PlannedStep, photos: list):
        """Take the step through the action's service, as the detail page's form does."""
        action = planned.step.action
        service = services.SERVICE_FOR_ACTION[action]
        actor = self.actor_for(issue, planned.step)
        inputs = self.inputs_for(planned, photos)
        if action in (Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION):
            extension = issue.extension_requests.get(status=ExtensionRequest.Status.PENDING)
            result = service(extension=extension, actor=actor, **inputs)
        else:
            result = service(issue=issue, actor=actor, **inputs)
        # Most services return the issue; an extension request returns the request.
        return result if isinstance(result, Issue) else issue


def _community_codes() -> list[str]:
    return [row[0] for row in demo_data.COMMUNITIES]


def _width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
