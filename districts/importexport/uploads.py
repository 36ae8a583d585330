"""Uploaded files kept on the server between preview and confirm, for their uploader only."""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from districts.importexport.specs import UPLOAD_DIRECTORY, UPLOAD_LIFETIME


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded file kept on the server between preview and confirm."""

    token: str
    user_id: int
    name: str
    file_format: str
    kind: str | None
    fingerprint: str

    @property
    def data_path(self) -> str:
        return f"{UPLOAD_DIRECTORY}/{self.token}/upload"


def _meta_path(token: str) -> str:
    return f"{UPLOAD_DIRECTORY}/{token}/meta.json"


def upload_store(
    *, user: Any, data: bytes, name: str, file_format: str, kind: str | None, fingerprint: str
) -> StoredUpload:
    """Keep the uploaded bytes under MEDIA_ROOT/imports/<uuid>/ with the uploader's id."""
    upload_cleanup()
    stored = StoredUpload(
        token=uuid.uuid4().hex,
        user_id=user.pk,
        name=name[:200],
        file_format=file_format,
        kind=kind,
        fingerprint=fingerprint,
    )
    default_storage.save(stored.data_path, ContentFile(data))
    meta = {
        "user_id": stored.user_id,
        "name": stored.name,
        "file_format": file_format,
        "kind": kind,
        "fingerprint": fingerprint,
        "created": timezone.now().isoformat(),
    }
    default_storage.save(_meta_path(stored.token), ContentFile(json.dumps(meta).encode()))
    return stored


def upload_load(*, user: Any, token: str) -> StoredUpload | None:
    """The stored upload of this user, or None (unknown, expired or someone else's)."""
    try:
        token = uuid.UUID(hex=token).hex
    except (ValueError, TypeError):
        return None
    if not default_storage.exists(_meta_path(token)):
        return None
    with default_storage.open(_meta_path(token)) as handle:
        meta = json.loads(handle.read())
    if meta.get("user_id") != user.pk:
        return None
    created = datetime.datetime.fromisoformat(meta["created"])
    if timezone.now() - created > UPLOAD_LIFETIME:
        upload_discard(token=token)
        return None
    return StoredUpload(
        token=token,
        user_id=meta["user_id"],
        name=meta["name"],
        file_format=meta["file_format"],
        kind=meta.get("kind"),
        fingerprint=meta["fingerprint"],
    )


def upload_bytes(stored: StoredUpload) -> bytes:
    """The bytes of a stored upload."""
    with default_storage.open(stored.data_path, "rb") as handle:
        return handle.read()


def upload_discard(*, token: str) -> None:
    for path in (f"{UPLOAD_DIRECTORY}/{token}/upload", _meta_path(token)):
        if default_storage.exists(path):
            default_storage.delete(path)


def upload_cleanup() -> None:
    """Forget uploads nobody confirmed within a day."""
    try:
        directories, _files = default_storage.listdir(UPLOAD_DIRECTORY)
    except (FileNotFoundError, NotImplementedError):
        return
    limit = timezone.now() - UPLOAD_LIFETIME
    for token in directories:
        try:
            modified = default_storage.get_modified_time(_meta_path(token))
        except (FileNotFoundError, OSError, NotImplementedError):
            modified = None
        if modified is None or modified < limit:
            upload_discard(token=token)
