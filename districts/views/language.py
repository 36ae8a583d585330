"""Switching the interface language: remembered per user, not only per browser."""

from django.http import HttpRequest, HttpResponse
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from districts.models import Membership


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language, plus saving the choice on the signed-in user's membership."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language and check_for_language(language):
        Membership.objects.filter(user=request.user).update(language=language)
    return response
