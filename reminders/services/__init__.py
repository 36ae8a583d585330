"""The reminder job and the sender: the only code that writes reminders and deliveries.

The job (`job.reminders_run`) scans open issues in keyset batches, lets SQL decide which reminder
each one owes at `now`, and inserts ledger rows with ON CONFLICT DO NOTHING: the unique key
(issue, kind, level, deadline) is the claim, so whichever run inserts first owns the reminder
and a second run (or a rerun after a crash) creates nothing. The run's escalations (through
`issues.services.issues_escalate_for_reminders`) and its deliveries are written in the same
transaction as the ledger rows, so a batch lands whole or not at all.

The sender (`sending.deliveries_send`) claims due deliveries of one target with SKIP LOCKED,
marks them `sending` under a lease and commits; sends outside any transaction; then marks them
sent, or pending again with backoff, or failed. A worker killed mid-send leaves rows `sending`
until their lease ends, when they are claimed again: the lease is the only window in which a
channel may see a message twice.

`ledger` keeps each reminder's own state in line with its deliveries and summaries;
`audiences` says who hears about what. Callers use `from reminders import services`.
"""

from reminders.services.audiences import AUDIENCES, RecipientDirectory, awaits_summary
from reminders.services.job import (
    RunReport,
    deliveries_plan,
    digests_create,
    reminders_run,
    summaries_plan,
    verification_cutoff,
)
from reminders.services.ledger import reminder_ids_of, reminders_refresh, reminders_sweep, summarise
from reminders.services.sending import (
    SendReport,
    deliveries_retry,
    deliveries_send,
    messages_per_claim,
    reminder_is_stale,
    retry_delay,
)

__all__ = [
    "AUDIENCES",
    "RecipientDirectory",
    "RunReport",
    "SendReport",
    "awaits_summary",
    "deliveries_plan",
    "deliveries_retry",
    "deliveries_send",
    "digests_create",
    "messages_per_claim",
    "reminder_ids_of",
    "reminder_is_stale",
    "reminders_refresh",
    "reminders_run",
    "reminders_sweep",
    "retry_delay",
    "summaries_plan",
    "summarise",
    "verification_cutoff",
]
