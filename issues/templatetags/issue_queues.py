"""The verification queue's card, written in Python: `{% verify_card issue %}`.

The queue shows sixty cards; as template markup each card's thirty-odd nodes cost more than its
photos and its two action forms together (`benchmark_pages --profile "verify queue"`). The tag
writes the card the queue's template used to: the case, its place and organisation, when it was
fixed, its before and after photos side by side, and its actions (`issue_actions.action_form`).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template import defaultfilters
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, ngettext

from issues.templatetags.issue_actions import action_form
from issues.templatetags.issue_badges import page_url, per_page, photo_thumb

register = template.Library()


def _words() -> dict[str, str]:
    return {
        name: conditional_escape(text)
        for name, text in (
            ("fixed", gettext("fixed")),
            ("before", gettext("before")),
            ("after", gettext("after")),
            ("none", gettext("none")),
            (
                "others",
                gettext("You submitted or cannot verify this fix; someone else verifies it."),
            ),
        )
    }


def _photos(context: template.Context, title: str, photos: list, none: str) -> str:
    if photos:
        thumbs = "".join(
            f"<li>{photo_thumb(context, photo, number)}</li>"
            for number, photo in enumerate(photos, start=1)
        )
        shown = f'<ul class="thumb-list">{thumbs}</ul>'
    else:
        shown = f'<p class="thumb-empty muted small">{none}</p>'
    return (
        '      <div class="compare-side">\n'
        f'        <h3 class="photo-set-title">{title}</h3>\n'
        f"        {shown}\n"
        "      </div>\n"
    )


@register.simple_tag(takes_context=True)
def verify_card(context: template.Context, issue: Any) -> SafeString:
    """One fix awaiting verification; `issue` comes from `selectors.verify_queue` with the
    view's `action_forms` (`detail.shared_action_item`)."""
    words = per_page(context, "verify words", _words)
    rework = ""
    if issue.rework_count:
        text = ngettext("rework ×%(counter)s", "rework ×%(counter)s", issue.rework_count) % {
            "counter": issue.rework_count
        }
        rework = f'<span class="badge badge-rework">{conditional_escape(text)}</span>'
    place = str(conditional_escape(issue.community.display_name))
    if issue.point:
        place += f" · {conditional_escape(issue.point.name)}"
    organisation = issue.assigned_organisation
    fixed = ""
    if issue.submitted_at:
        at = template_localtime(issue.submitted_at)
        fixed = (
            f'\n      <span>{words["fixed"]} <time datetime="{defaultfilters.date(at, "c")}">'
            f"{defaultfilters.date(at, 'm-d H:i')}</time></span>"
        )
    if issue.action_forms:
        forms = "".join(action_form(context, item, issue) for item in issue.action_forms)
        actions = f'<div class="verify-actions">\n{forms}</div>'
    else:
        actions = f'<p class="muted small">{words["others"]}</p>'
    url = page_url(context, "issues:issue_detail", issue.pk)
    return mark_safe(  # noqa: S308 - every part is escaped above or by the tags it calls
        f'<article class="card verify-card" id="verify-{issue.pk}">\n'
        '    <div class="card-head">\n'
        f'      <h2><a href="{url}"><span class="issue-number">'
        f"{conditional_escape(issue.case_number)}</span> "
        f"{conditional_escape(issue.category.display_name)}</a></h2>\n"
        f"      {rework}\n"
        "    </div>\n"
        '    <p class="issue-meta">\n'
        f"      <span>{place}</span>\n"
        f"      <span>{conditional_escape(organisation.display_name if organisation else '')}"
        f"</span>{fixed}\n"
        "    </p>\n"
        '    <div class="compare">\n'
        f"{_photos(context, words['before'], issue.before_photos, words['none'])}"
        f"{_photos(context, words['after'], issue.after_photos, words['none'])}"
        "    </div>\n"
        f"    {actions}\n"
        "  </article>\n"
    )
