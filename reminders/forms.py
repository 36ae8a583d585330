"""The channel settings form: secrets are write-only, blank keeps the saved value."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from reminders.models import ROBOT_KINDS, ChannelConfig, ChannelKind
from reminders.netguard import webhook_url_problem

KEEP_HELP = _("Leave blank to keep the saved value; it is never shown again.")
SECRET_FIELDS = ("webhook_url", "signing_secret")


def mask_url(url: str) -> str:
    """Scheme and host only: the rest of a robot URL carries its key."""
    if not url:
        return ""
    scheme, _sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}/…"


class ChannelConfigForm(civic_forms.ModelForm):
    """Edit a channel; the webhook URL and signing secret are never sent back to the browser."""

    webhook_url = forms.CharField(
        label=_("webhook URL"),
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=KEEP_HELP,
    )
    signing_secret = forms.CharField(
        label=_("signing secret"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=KEEP_HELP,
    )
    clear_webhook_url = forms.BooleanField(label=_("remove the saved webhook URL"), required=False)
    clear_signing_secret = forms.BooleanField(
        label=_("remove the saved signing secret"), required=False
    )

    class Meta:
        model = ChannelConfig
        fields = [
            "organisation",
            "kind",
            "enabled",
            "webhook_url",
            "signing_secret",
            "keyword",
            "email_addresses",
            "quiet_start",
            "quiet_end",
            "rate_limit_per_minute",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read before construct_instance() overwrites the instance with the blank inputs.
        self._saved = {
            name: (getattr(self.instance, name, "") if self.instance.pk else "")
            for name in SECRET_FIELDS
        }
        # Whatever the browser is given, a saved secret is not part of it.
        for name in SECRET_FIELDS:
            self.initial.pop(name, None)
            saved = self._saved[name]
            if saved:
                hint = mask_url(saved) if name == "webhook_url" else "••••••"
                self.fields[name].help_text = _("Saved: %(hint)s. %(keep)s") % {
                    "hint": hint,
                    "keep": KEEP_HELP,
                }

    def _effective(self, name: str) -> str:
        """The value to save: the new one, the saved one when left blank, or none if cleared."""
        if self.cleaned_data.get(f"clear_{name}"):
            return ""
        return self.cleaned_data.get(name) or self._saved[name]

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data.get("webhook_url") or ""
        problem = webhook_url_problem(url) if url else None
        if problem is not None:
            # Said without echoing the URL: it is the robot's secret.
            raise ValidationError(problem)
        return url

    def clean_email_addresses(self) -> str:
        raw = self.cleaned_data.get("email_addresses") or ""
        addresses = [
            line.strip()
            for line in raw.replace(",", "\n").replace(";", "\n").splitlines()
            if line.strip()
        ]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError as error:
                raise ValidationError(
                    _("%(address)s is not an e-mail address."), params={"address": address}
                ) from error
        return "\n".join(addresses)

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        webhook_url = self._effective("webhook_url")
        if kind in ROBOT_KINDS and not webhook_url:
            self.add_error("webhook_url", _("A robot needs its webhook URL."))
        if kind == ChannelKind.EMAIL and not cleaned.get("email_addresses"):
            self.add_error("email_addresses", _("Give at least one e-mail address."))
        if (cleaned.get("quiet_start") is None) != (cleaned.get("quiet_end") is None):
            self.add_error("quiet_end", _("Give both ends of the quiet hours, or neither."))
        # The values to save, saved secrets included, so that the model validates (and
        # resolves) the webhook that will really be used.
        for name in SECRET_FIELDS:
            if name not in self.errors:
                cleaned[name] = self._effective(name)
        return cleaned
