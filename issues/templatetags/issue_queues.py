"""The supervisor queues' rows, written in Python: `{% verify_card issue %}`,
`{% triage_row issue picker_url %}` and the `{% return_note event %}` both triage and the case
page show.

Each queue shows sixty cases; as template markup each row's thirty-odd nodes (a `{% url %}`, a
`{% translate %}`, a date filter each) cost more than the queue's queries
(`benchmark_pages --profile "verify queue"`, `--profile triage`). The tags write the markup the
templates did: the verification card with the case, its place and organisation, when it was
fixed, its before and after photos side by side and its actions (`issue_actions.action_form`);
the triage row with its check box, photo, case, the latest return and the organisation picker
showing the routing's suggestion.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext

from civicapp.renderers import escaped, per_page
from districts.models import Severity
from issues.templatetags.issue_actions import action_form
from issues.templatetags.issue_badges import page_url, photo_thumb, time_element

register = template.Library()


def _words() -> dict[str, str]:
    return {
        name: escaped(text)
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
        rework = f'<span class="badge badge-rework">{escaped(text)}</span>'
    place = escaped(issue.community.display_name)
    if issue.point:
        place += f" · {escaped(issue.point.name)}"
    organisation = issue.assigned_organisation
    fixed = ""
    if issue.submitted_at:
        fixed = f"\n      <span>{words['fixed']} {time_element(issue.submitted_at)}</span>"
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
        f"{escaped(issue.case_number)}</span> "
        f"{escaped(issue.category.display_name)}</a></h2>\n"
        f"      {rework}\n"
        "    </div>\n"
        '    <p class="issue-meta">\n'
        f"      <span>{place}</span>\n"
        f"      <span>{escaped(organisation.display_name if organisation else '')}"
        f"</span>{fixed}\n"
        "    </p>\n"
        '    <div class="compare">\n'
        f"{_photos(context, words['before'], issue.before_photos, words['none'])}"
        f"{_photos(context, words['after'], issue.after_photos, words['none'])}"
        "    </div>\n"
        f"    {actions}\n"
        "  </article>\n"
    )


def _return_note(event: Any) -> str:
    organisation = event.organisation.display_name if event.organisation else ""
    text = gettext("Returned by %(organisation)s:") % {
        "organisation": organisation or gettext("An organisation")
    }
    return (
        f'<p class="return-note small" role="note"><strong>{escaped(text)}</strong> '
        f"{escaped(event.note)} {time_element(event.created_at, 'muted')}</p>"
    )


@register.simple_tag
def return_note(event: Any) -> SafeString:
    """Why an organisation handed a case back (回退), who and when."""
    return mark_safe(_return_note(event))  # noqa: S308 - escaped in there


def _triage_words() -> dict[str, Any]:
    words: dict[str, Any] = {
        name: escaped(text)
        for name, text in (
            ("photo", gettext("before photo")),
            ("open", gettext("Open the issue")),
            ("to", gettext("Dispatch to")),
            ("suggested", gettext("Suggested by routing")),
            ("fallback", gettext("fallback")),
            ("nobody", gettext("Routing found nobody: choose an organisation.")),
        )
    }
    words["severity"] = {value: escaped(str(label)) for value, label in Severity.choices}
    return words


@register.simple_tag(takes_context=True)
def triage_row(context: template.Context, issue: Any, picker_url: str) -> SafeString:
    """One report awaiting dispatch; `issue` comes from `selectors.triage_queue` with the view's
    `returns`, `routing` and `organisation_label`."""
    words = per_page(context, "triage words", _triage_words)
    pk = issue.pk
    photo = ""
    if issue.shown_photos:
        first = issue.shown_photos[0]
        photo = (
            f'\n            <a class="thumb thumb-small" '
            f'href="{page_url(context, "issues:photo", first.pk)}" target="_blank" '
            f'rel="noopener"><img src="{page_url(context, "issues:photo_thumb", first.pk)}" '
            f'alt="{words["photo"]}" width="96" height="72" loading="lazy"></a>'
        )
    place = escaped(issue.community.display_name)
    if issue.point:
        place += f" · {escaped(issue.point.name)}"
    description = ""
    if issue.description:
        short = Truncator(issue.description).chars(120)
        description = f'\n            <p class="small triage-description">{escaped(short)}</p>'
    returned = f"\n            {_return_note(issue.returns[0])}" if issue.returns else ""
    if issue.routing.organisation:
        fallback = f" ({words['fallback']})" if issue.routing.is_fallback else ""
        help_text = f"{words['suggested']}{fallback}"
    else:
        help_text = words["nobody"]
    severity_class = escaped(issue.severity)
    severity = words["severity"].get(issue.severity, severity_class)
    return mark_safe(  # noqa: S308 - every part is escaped above or by the helpers
        '<li class="issue-item triage-row">\n'
        '        <div class="triage-select check-row">\n'
        f'          <input type="checkbox" name="issue" value="{pk}" id="select-{pk}" '
        'class="triage-check">\n'
        f'          <label for="select-{pk}"><span class="issue-number">'
        f'{escaped(issue.case_number)}</span> <span class="issue-title">'
        f"{escaped(issue.category.display_name)}</span></label>\n"
        "        </div>\n"
        f'        <div class="triage-body">{photo}\n'
        '          <div class="triage-text">\n'
        '            <p class="issue-meta">\n'
        f'              <span class="badge severity-badge severity-{severity_class}">'
        f"{severity}</span>\n"
        f"              <span>{place}</span>\n"
        f"              <span>{time_element(issue.reported_at)}</span>\n"
        f"            </p>{description}{returned}\n"
        f'            <a class="small" href="{page_url(context, "issues:issue_detail", pk)}">'
        f"{words['open']}</a>\n"
        "          </div>\n"
        "        </div>\n"
        '        <div class="form-row triage-organisation">\n'
        f'          <label for="organisation-{pk}">{words["to"]}</label>\n'
        f'          <input type="search" name="organisation-{pk}" id="organisation-{pk}" '
        'class="picker" list="organisation-options" '
        f'data-picker-url="{escaped(picker_url)}" autocomplete="off" '
        f'spellcheck="false" value="{escaped(issue.organisation_label)}">\n'
        f'          <p class="help">{help_text}</p>\n'
        "        </div>\n"
        "      </li>\n"
    )
