"""The reminder ledger, its deliveries and the channels they go out on (docs/domain.md §5).

The ledger's unique key (issue, kind, level, deadline) is the claim: whichever run inserts a
row first owns that reminder, so two runs at once, a killed worker or a restarted broker can
never make a second one. Deliveries are the outbox: one row per reminder (or daily digest),
channel and target, each sent at least once and marked sent only after the channel said yes.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import District, Organisation
from issues.models import Issue
from reminders.netguard import webhook_destination_problem


class ChannelKind(models.TextChoices):
    INAPP = "inapp", _("in-app notification")
    EMAIL = "email", _("e-mail")
    WECOM = "wecom", _("WeCom group robot (企业微信)")
    DINGTALK = "dingtalk", _("DingTalk robot (钉钉)")


ROBOT_KINDS = (ChannelKind.WECOM, ChannelKind.DINGTALK)


class ChannelConfig(models.Model):
    """Where one organisation's (or, with no organisation, the zone office's) reminders go."""

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminder_channels",
        help_text=_("Leave empty for the zone office, which receives the last escalation."),
    )
    kind = models.CharField(_("channel"), max_length=16, choices=ChannelKind)
    enabled = models.BooleanField(_("enabled"), default=True)
    # The robot's key is part of the URL, so the whole URL is a secret.
    webhook_url = models.CharField(_("webhook URL"), max_length=500, blank=True)
    signing_secret = models.CharField(
        _("signing secret"),
        max_length=200,
        blank=True,
        help_text=_("DingTalk: the secret of the robot's signing (加签) security setting."),
    )
    keyword = models.CharField(
        _("keyword"),
        max_length=40,
        blank=True,
        help_text=_("DingTalk: the custom keyword (自定义关键词) every message must contain."),
    )
    email_addresses = models.TextField(
        _("e-mail addresses"), blank=True, help_text=_("One address per line.")
    )
    quiet_start = models.TimeField(
        _("quiet hours from"),
        null=True,
        blank=True,
        help_text=_("Local time; messages wait until the quiet hours end."),
    )
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    rate_limit_per_minute = models.PositiveSmallIntegerField(
        _("messages per minute"),
        default=20,
        help_text=_("WeCom and DingTalk robots accept at most 20 messages a minute."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["organisation__code", "kind"]
        verbose_name = _("reminder channel")
        verbose_name_plural = _("reminder channels")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind"],
                condition=Q(organisation__isnull=False),
                name="channelconfig_one_per_organisation_kind",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(organisation__isnull=True),
                name="channelconfig_one_zone_office_per_kind",
            ),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="channelconfig_quiet_hours_paired",
            ),
            models.CheckConstraint(
                condition=Q(rate_limit_per_minute__gte=1), name="channelconfig_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        owner = self.organisation.display_name if self.organisation else _("zone office")
        return f"{owner} · {self.get_kind_display()}"

    def clean(self) -> None:
        """Refuse a webhook URL that is malformed or reaches inside the network (netguard)."""
        if self.webhook_url:
            problem = webhook_destination_problem(self.webhook_url)
            if problem is not None:
                # Said without echoing the URL: it is the robot's secret.
                raise ValidationError({"webhook_url": problem})

    @property
    def target_key(self) -> str:
        return f"cfg:{self.pk}"

    @property
    def email_list(self) -> list[str]:
        raw = self.email_addresses.replace(",", "\n").replace(";", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def is_quiet_at(self, moment: datetime.datetime) -> bool:
        """Whether `moment`, in local time, falls in the quiet hours (which may wrap midnight)."""
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return False
        local = timezone.localtime(moment).time()
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def quiet_until(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The end of the quiet hours `moment` falls in, or None when it is not quiet."""
        if not self.is_quiet_at(moment):
            return None
        local = timezone.localtime(moment)
        end = local.replace(
            hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0
        )
        if end <= local:
            end += datetime.timedelta(days=1)
        return end


class ReminderQuerySet(models.QuerySet["Reminder"]):
    def pending(self) -> ReminderQuerySet:
        return self.filter(state=Reminder.State.PENDING)


class Reminder(models.Model):
    """One reminder owed about one issue; its unique key makes it exist (and go out) once.

    Kinds and levels, with A = deadline − clock start (the allowed time, in natural time):
      due_soon              level 0  from 75 % of A until the deadline
      overdue               level 1  past the deadline (催办), raises escalation to 1
      escalation            level 2  A past the deadline, i.e. 2×A after the start (督办函)
      escalation            level 3  2×A past the deadline, i.e. 3×A after the start (挂牌督办)
      awaiting_verification level 0  fix submitted and not verified for a working day
    For awaiting_verification `deadline` holds the submission time, so a resubmitted fix is
    a new reminder.

    The organisation hears about each case; people above it (the district's supervisors, the
    zone office) hear once per run, in a summary. A reminder waits for its summary while
    `awaits_summary` is set; the job's summary step clears it, and `summary_token` then names
    the summaries that carry it.
    """

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", _("due soon")
        OVERDUE = "overdue", _("overdue (催办)")
        ESCALATION = "escalation", _("escalation (督办)")
        AWAITING_VERIFICATION = "awaiting_verification", _("awaiting verification")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled (no longer due)")

    # The unique key (issue, kind, level, deadline) serves lookups by issue.
    issue = models.ForeignKey(
        Issue,
        verbose_name=_("issue"),
        on_delete=models.CASCADE,
        related_name="reminders",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind)
    level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    deadline = models.DateTimeField(
        _("deadline"),
        help_text=_(
            "The deadline this reminder is about; for awaiting verification, "
            "the time the fix was submitted."
        ),
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    district = models.ForeignKey(
        District,
        verbose_name=_("district"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Which run inserted the row: a run reads back only the rows it won.
    claim_token = models.UUIDField(_("claim token"), editable=False)
    awaits_summary = models.BooleanField(_("awaits its summary"), default=False, editable=False)
    summary_token = models.UUIDField(_("summary token"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["issue", "kind", "level", "deadline"], name="reminder_once_per_key"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["due_soon", "awaiting_verification"], level=0)
                | Q(kind="overdue", level=1)
                | Q(kind="escalation", level__in=[2, 3]),
                name="reminder_kind_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "sent", "failed", "cancelled"]),
                name="reminder_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="reminder_created_idx"),
            models.Index(
                fields=["state", "-created_at"],
                name="reminder_unsent_idx",
                condition=~Q(state="sent"),
            ),
            # The summary step's claim reads only the few rows still waiting.
            models.Index(
                fields=["id"], name="reminder_awaits_summary_idx", condition=Q(awaits_summary=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.issue_id} {self.get_kind_display()} L{self.level}"

    @property
    def key(self) -> str:
        """The idempotency key as text; also the in-app notification's dedupe key."""
        return reminder_key(self.issue_id, self.kind, self.level, self.deadline)


def reminder_key(issue_id: int, kind: str, level: int, deadline: datetime.datetime) -> str:
    return f"reminder:{issue_id}:{kind}:{level}:{int(deadline.timestamp())}"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def due(self, now: datetime.datetime) -> DeliveryQuerySet:
        """Deliveries to send now: pending and due, or sending with an expired lease."""
        return self.filter(
            state__in=(Delivery.State.PENDING, Delivery.State.SENDING), next_attempt_at__lte=now
        )


class Delivery(models.Model):
    """One message owed to one target on one channel: about a case, a daily digest or a summary.

    While a row is `sending`, `next_attempt_at` is its lease: a worker that dies mid-send leaves
    the row to be claimed again when the lease ends. That lease is the only window in which a
    channel can receive a message twice; the ledger row itself is never duplicated.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled (no longer due)")

    class Kind(models.TextChoices):
        CASE = "case", _("one case")
        DAILY_DIGEST = "daily", _("daily digest")
        SUMMARY = "summary", _("summary of a run")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind, default=Kind.CASE)
    reminder = models.ForeignKey(
        Reminder,
        verbose_name=_("reminder"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    digest_date = models.DateField(_("digest of"), null=True, blank=True)
    # A summary lists its reminders in `payload`; they share this token with it.
    summary_token = models.UUIDField(_("summary token"), null=True, blank=True, editable=False)
    # Indexed by delivery_organisation_idx (organisation, -created_at).
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=16, choices=ChannelKind)
    config = models.ForeignKey(
        ChannelConfig,
        verbose_name=_("channel settings"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        # Fewer indexes to maintain on the hot insert; a channel is deleted rarely.
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    target_key = models.CharField(_("target"), max_length=40)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    response_code = models.IntegerField(_("response code"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("delivery log")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="case", reminder__isnull=False, digest_date__isnull=True)
                | Q(kind="daily", reminder__isnull=True, digest_date__isnull=False)
                | Q(
                    kind="summary",
                    reminder__isnull=True,
                    digest_date__isnull=True,
                    summary_token__isnull=False,
                ),
                name="delivery_kind_matches_subject",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "sending", "sent", "failed", "cancelled"]),
                name="delivery_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False),
                name="delivery_sent_has_time",
            ),
        ]
        indexes = [
            # The sender's claim (due rows of one target, oldest first), and its list of the
            # targets with due rows (an index-only scan of the same index).
            models.Index(
                fields=["target_key", "next_attempt_at", "id"],
                name="delivery_due_target_idx",
                condition=Q(state__in=["pending", "sending"]),
            ),
            models.Index(fields=["-created_at", "-id"], name="delivery_created_idx"),
            models.Index(fields=["organisation", "-created_at"], name="delivery_organisation_idx"),
            models.Index(
                fields=["summary_token"],
                name="delivery_summary_idx",
                condition=Q(summary_token__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.target_key} ({self.get_state_display()})"


class RateEvent(models.Model):
    """One message sent to a rate-limited target; the sliding window when there is no Redis."""

    target_key = models.CharField(_("target"), max_length=40)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("rate event")
        verbose_name_plural = _("rate events")
        indexes = [models.Index(fields=["target_key", "created_at"], name="rateevent_window_idx")]

    def __str__(self) -> str:
        return f"{self.target_key} {self.created_at:%H:%M:%S}"
