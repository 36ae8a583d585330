"""Photo files. Media has no public URL: every photo is streamed here after a scope check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from issues.models import Issue, Photo


@login_required
@require_safe
def photo_view(request: HttpRequest, pk: int) -> FileResponse:
    """The stored photo, if its issue is visible to the user; 404 otherwise."""
    photo = _get_photo_for_user(request.user, pk)
    return _stream(photo.image, f"photo-{photo.pk}.jpg")


@login_required
@require_safe
def photo_thumb_view(request: HttpRequest, pk: int) -> FileResponse:
    """The photo's thumbnail, under the same scope check as the photo."""
    photo = _get_photo_for_user(request.user, pk)
    return _stream(photo.thumbnail, f"photo-{photo.pk}-thumb.jpg")


def _get_photo_for_user(user, pk: int) -> Photo:
    # One 404 for "no such photo" and "not yours", so ids reveal nothing.
    visible = Photo.objects.filter(issue__in=Issue.objects.visible_to(user))
    return get_object_or_404(visible.only("pk", "image", "thumbnail"), pk=pk)


def _stream(file: FieldFile, filename: str) -> FileResponse:
    try:
        handle = file.open("rb")
    except (FileNotFoundError, ValueError) as error:
        raise Http404 from error
    # Stored files are always JPEGs we encoded ourselves; say so and forbid sniffing anyway.
    # A filename without as_attachment makes Django send "Content-Disposition: inline".
    response = FileResponse(handle, content_type="image/jpeg", filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    # Photos of a case are for its staff only: browsers may keep them, shared caches may not.
    response["Cache-Control"] = "private, max-age=3600"
    # Opened on its own the image may run nothing and may not be embedded by other sites.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
