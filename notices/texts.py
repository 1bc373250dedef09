"""What a notice says, in the visitor's language: where and when, and what to do. It never says
who the case was (no name, no detail of the index case), only that someone present was one."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The Ministry of Health's hotline.
HOTLINE = "1900 9095"

TITLE = _l("Health notice: you may have been exposed")
WHERE_WHEN = _l("You were at %(venue)s on %(day)s from %(start)s to %(end)s at the same time as a "
                "person who has since been found to have the disease.")
ADVICE = _l("Please watch your health for 14 days from that day, wear a mask, limit contact with "
            "others, and call the health hotline %(hotline)s or your local health station at "
            "once if you have fever, cough or difficulty breathing.")
SMS = _l("KhaiBao: you were at %(venue)s on %(day)s %(start)s-%(end)s with a person found to "
         "have the disease. Watch your health for 14 days; symptoms: call %(hotline)s.")


def _when(start: datetime, end: datetime) -> dict:
    start, end = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    return {"day": start.strftime("%d/%m/%Y"), "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M")}


def notice_lines(*, venue: str, start: datetime, end: datetime) -> dict:
    """Title, where/when and advice in the current locale (for pages and the kiosk card)."""
    return {"title": str(TITLE),
            "where_when": str(WHERE_WHEN) % {"venue": venue, **_when(start, end)},
            "advice": str(ADVICE) % {"hotline": HOTLINE}}


def in_language(lang: str, *, venue: str, start: datetime, end: datetime) -> dict:
    with force_locale(lang if lang in ("vi", "en") else "vi"):
        lines = notice_lines(venue=venue, start=start, end=end)
        lines["sms"] = str(SMS) % {"venue": venue, "hotline": HOTLINE, **_when(start, end)}
    return lines


def email_message(lang: str, *, venue: str, start: datetime, end: datetime) -> tuple[str, str]:
    """(subject, body): the visitor's language first, the other after."""
    first = lang if lang in ("vi", "en") else "vi"
    parts = [in_language(code, venue=venue, start=start, end=end)
             for code in (first, "en" if first == "vi" else "vi")]
    body = "\n\n---\n\n".join(f"{p['where_when']}\n\n{p['advice']}" for p in parts)
    return parts[0]["title"], body + "\n"
