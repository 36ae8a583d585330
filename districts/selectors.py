"""Reads about staff: who answers for an organisation, a district, the zone."""

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from districts.models import Role

User = get_user_model()


def handlers_of(organisation_id: int) -> QuerySet:
    """Active handlers of one organisation."""
    return User.objects.filter(
        is_active=True,
        membership__role=Role.HANDLER,
        membership__organisation_id=organisation_id,
    )


def supervisors_for(district_id: int) -> QuerySet:
    """Active supervisors whose scope covers the district."""
    return User.objects.filter(
        Q(membership__all_districts=True) | Q(membership__districts=district_id),
        is_active=True,
        membership__role=Role.SUPERVISOR,
    ).distinct()


def zone_office() -> QuerySet:
    """Active admins: the zone office that receives the last escalation."""
    return User.objects.filter(is_active=True, membership__role=Role.ADMIN)
