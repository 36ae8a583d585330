"""Database constraints hold the domain's invariants even when Python checks are bypassed."""

from __future__ import annotations

import datetime
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from districts.models import (
    Category,
    CheckItem,
    Membership,
    OwnerKind,
    PointType,
    Responsibility,
    Role,
)
from issues.models import (
    CalendarDay,
    CaseCounter,
    Escalation,
    ExtensionRequest,
    IssueEvent,
    Status,
)
from tests.factories import (
    CategoryFactory,
    InspectionPointFactory,
    IssueFactory,
    OrganisationFactory,
    ResponsibilityFactory,
    UserFactory,
    ZoneFactory,
)

START = datetime.date(2025, 1, 1)


@contextmanager
def refused():
    """Expect the database to refuse the write; the savepoint keeps the test usable after it."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# --- responsibility -----------------------------------------------------------------------------


class TestResponsibilityShape:
    def test_territorial_assignment_of_a_district_is_accepted(self, world):
        ResponsibilityFactory(kind=OwnerKind.TERRITORIAL, district=world.district_a)

    def test_territorial_assignment_with_a_category_is_refused(self, world):
        with refused():
            ResponsibilityFactory(
                kind=OwnerKind.TERRITORIAL, district=world.district_a, category=world.category
            )

    def test_territorial_assignment_of_a_point_is_refused(self, world):
        with refused():
            ResponsibilityFactory(
                kind=OwnerKind.TERRITORIAL, community=world.community_a, point=world.point_a
            )

    def test_territorial_assignment_without_a_place_is_refused(self, world):
        with refused():
            ResponsibilityFactory(kind=OwnerKind.TERRITORIAL)

    def test_paired_assignment_with_a_category_is_refused(self, world):
        with refused():
            ResponsibilityFactory(
                kind=OwnerKind.PAIRED, community=world.community_a, category=world.category
            )

    def test_paired_assignment_without_a_community_or_point_is_refused(self, world):
        with refused():
            ResponsibilityFactory(kind=OwnerKind.PAIRED, district=world.district_a)

    def test_paired_assignment_of_a_point_is_accepted(self, world):
        ResponsibilityFactory(kind=OwnerKind.PAIRED, point=world.point_a, lead_person="梁万明")

    def test_sector_assignment_without_a_category_is_refused(self, world):
        with refused():
            ResponsibilityFactory(kind=OwnerKind.SECTOR, district=world.district_a)

    def test_sector_assignment_of_a_community_is_refused(self, world):
        with refused():
            ResponsibilityFactory(
                kind=OwnerKind.SECTOR, category=world.category, community=world.community_a
            )

    def test_sector_assignment_zone_wide_or_per_district_is_accepted(self, world):
        ResponsibilityFactory(kind=OwnerKind.SECTOR, category=world.category)
        ResponsibilityFactory(
            kind=OwnerKind.SECTOR, category=world.category, district=world.district_b
        )


class TestResponsibilityDates:
    def test_an_assignment_ending_on_its_first_day_is_refused(self, world):
        with refused():
            ResponsibilityFactory(district=world.district_a, valid_from=START, valid_to=START)

    def test_an_assignment_ending_before_it_starts_is_refused(self, world):
        with refused():
            ResponsibilityFactory(
                district=world.district_a,
                valid_from=START,
                valid_to=START - datetime.timedelta(days=1),
            )

    def test_an_open_ended_or_later_ending_assignment_is_accepted(self, world):
        ResponsibilityFactory(district=world.district_a, valid_from=START, valid_to=None)
        ResponsibilityFactory(
            district=world.district_a,
            valid_from=START,
            valid_to=START + datetime.timedelta(days=1),
        )
        assert Responsibility.objects.filter(valid_from=START).count() == 2


# --- staff, places, taxonomy --------------------------------------------------------------------


def test_a_handler_membership_without_an_organisation_is_refused(db):
    user = UserFactory(username="no-org")
    with refused():
        Membership.objects.create(user=user, role=Role.HANDLER)


def test_an_inspector_membership_needs_no_organisation(db):
    Membership.objects.create(user=UserFactory(username="walker"), role=Role.INSPECTOR)


def test_a_user_has_at_most_one_membership(world):
    with refused():
        Membership.objects.create(user=world.inspector_xincheng, role=Role.LEADER)


def test_an_inspection_point_outside_the_globe_is_refused(world):
    with refused():
        InspectionPointFactory(community=world.community_a, latitude=Decimal("91.000000"))
    with refused():
        InspectionPointFactory(community=world.community_a, longitude=Decimal("-181.000000"))


def test_a_category_with_a_zero_time_limit_is_refused(db):
    with refused():
        CategoryFactory(limit_value=0)


def test_category_codes_are_unique(db):
    with refused():
        CategoryFactory(code="SMALL_AD")


def test_a_check_item_appears_once_per_point_type(db):
    point_type = PointType.objects.get(code="WET_MARKET")
    text = point_type.check_items.first().text
    with refused():
        CheckItem.objects.create(point_type=point_type, text=text)


def test_an_organisation_cannot_be_its_own_parent(db):
    organisation = OrganisationFactory()
    organisation.parent_id = organisation.pk
    with refused():
        organisation.save()


# --- issues -------------------------------------------------------------------------------------


class TestIssueConstraints:
    @pytest.mark.parametrize(
        "status", [Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED, Status.PARKED]
    )
    def test_a_dispatched_issue_without_organisation_or_deadline_is_refused(self, world, status):
        with refused():
            IssueFactory(community=world.community_a, status=status)
        with refused():
            IssueFactory(
                community=world.community_a, status=status, assigned_organisation=world.org_x
            )
        with refused():
            IssueFactory(community=world.community_a, status=status, deadline=timezone.now())

    def test_a_dispatched_issue_with_organisation_and_deadline_is_accepted(self, world):
        IssueFactory(
            community=world.community_a,
            status=Status.ASSIGNED,
            assigned_organisation=world.org_x,
            deadline=timezone.now(),
        )

    def test_an_unknown_status_is_refused(self, world):
        with refused():
            IssueFactory(community=world.community_a, status="lost")

    def test_coordinates_out_of_range_are_refused(self, world):
        with refused():
            IssueFactory(
                community=world.community_a,
                latitude=Decimal("-90.500000"),
                longitude=Decimal("122.0"),
            )
        with refused():
            IssueFactory(
                community=world.community_a,
                latitude=Decimal("43.6"),
                longitude=Decimal("180.500000"),
            )

    def test_a_latitude_without_a_longitude_is_refused(self, world):
        with refused():
            IssueFactory(community=world.community_a, latitude=Decimal("43.6"))

    def test_a_case_number_is_unique_within_a_zone(self, world):
        IssueFactory(community=world.community_a, case_number="2026-000001")
        with refused():
            IssueFactory(community=world.community_a, case_number="2026-000001")

    def test_the_same_case_number_may_exist_in_another_zone(self, world):
        IssueFactory(community=world.community_a, case_number="2026-000001")
        other = ZoneFactory(code="OTHER", name="另一开发区")
        IssueFactory(zone=other, community=world.community_a, case_number="2026-000001")

    def test_an_escalation_level_above_three_is_refused(self, world):
        with refused():
            IssueFactory(community=world.community_a, escalation_level=4)

    def test_an_issue_cannot_duplicate_itself(self, world):
        issue = IssueFactory(community=world.community_a)
        issue.duplicate_of_id = issue.pk
        with refused():
            issue.save()

    def test_a_closed_issue_without_a_closing_time_is_refused(self, world):
        with refused():
            IssueFactory(
                community=world.community_a,
                status=Status.CLOSED,
                assigned_organisation=world.org_x,
                deadline=timezone.now(),
            )

    def test_the_same_client_token_cannot_file_two_issues(self, world):
        token = "0b7d6c4e-2f1a-4f53-9a7e-3c2d1b0a9f8e"
        IssueFactory(community=world.community_a, client_token=token)
        with refused():
            IssueFactory(community=world.community_a, client_token=token)


class TestSideRecords:
    @pytest.fixture
    def issue(self, world):
        return IssueFactory(
            community=world.community_a,
            status=Status.IN_PROGRESS,
            assigned_organisation=world.org_x,
            deadline=timezone.now(),
        )

    def _extension(self, issue, user, **fields):
        return ExtensionRequest.objects.create(
            issue=issue,
            requested_by=user,
            reason="需要协调",
            requested_deadline=timezone.now() + datetime.timedelta(days=2),
            **fields,
        )

    def test_only_one_extension_request_may_be_pending(self, world, issue):
        self._extension(issue, world.handler_xincheng)
        with refused():
            self._extension(issue, world.handler_xincheng)

    def test_decided_extension_requests_do_not_block_a_new_one(self, world, issue):
        self._extension(issue, world.handler_xincheng, status="refused", decided_at=timezone.now())
        self._extension(issue, world.handler_xincheng, status="approved", decided_at=timezone.now())
        self._extension(issue, world.handler_xincheng)

    def test_a_decided_extension_without_a_decision_time_is_refused(self, world, issue):
        with refused():
            self._extension(issue, world.handler_xincheng, status="approved")

    @pytest.mark.parametrize("level", [0, 4])
    def test_an_escalation_outside_levels_one_to_three_is_refused(self, issue, level):
        with refused():
            Escalation.objects.create(issue=issue, level=level, source="manual")

    def test_the_reminder_job_escalates_once_per_level_and_deadline(self, issue):
        Escalation.objects.create(issue=issue, level=1, source="job", deadline=issue.deadline)
        with refused():
            Escalation.objects.create(issue=issue, level=1, source="job", deadline=issue.deadline)
        # By hand a supervisor may repeat a level (e.g. a second 催办 call).
        Escalation.objects.create(issue=issue, level=1, source="manual", deadline=issue.deadline)

    def test_a_zone_has_one_case_counter_per_year(self, world):
        CaseCounter.objects.create(zone=world.zone, year=2031)
        with refused():
            CaseCounter.objects.create(zone=world.zone, year=2031)

    def test_a_calendar_day_is_listed_once(self, db):
        CalendarDay.objects.create(date=datetime.date(2031, 5, 1), is_working_day=False)
        with refused():
            CalendarDay.objects.create(date=datetime.date(2031, 5, 1), is_working_day=True)

    def test_issue_events_cannot_be_updated_or_deleted_in_the_database(self, world, issue):
        event = IssueEvent.objects.create(
            issue=issue,
            actor=world.supervisor_xincheng,
            action="dispatch",
            to_status=Status.ASSIGNED,
        )
        # Below the ORM: the PostgreSQL trigger refuses what a raw UPDATE or DELETE would do.
        with pytest.raises(DatabaseError), transaction.atomic():
            IssueEvent.objects.filter(pk=event.pk).update(note="改写")
        with pytest.raises(DatabaseError), transaction.atomic():
            IssueEvent.objects.filter(pk=event.pk)._raw_delete(using="default")
        assert IssueEvent.objects.get(pk=event.pk).note == ""

    def test_issue_events_refuse_save_and_delete_in_python(self, world, issue):
        event = IssueEvent.objects.create(
            issue=issue,
            actor=world.supervisor_xincheng,
            action="dispatch",
            to_status=Status.ASSIGNED,
        )
        with pytest.raises(ValueError):
            event.save()
        with pytest.raises(ValueError):
            event.delete()


def test_category_factory_codes_do_not_clash_with_the_default_taxonomy(db):
    assert not Category.objects.filter(code__startswith="CAT_").exists()
