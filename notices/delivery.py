"""The two ways out: e-mail through an SMTP server (KIOSK_SMTP_URL, smtp://host:port, with
optional user:password@ and smtps:// for TLS) and SMS through an HTTP gateway
(KIOSK_SMS_WEBHOOK_URL: a JSON POST {"to": "+84…", "message": "…"}, any 2xx is accepted)."""
from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

TIMEOUT_S = 10


class DeliveryError(Exception):
    """The message was not accepted; the text (no personal data) says why."""


def send_email(smtp_url: str, *, sender: str, to: str, subject: str, body: str) -> None:
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError("KIOSK_SMTP_URL must look like smtp://host:port")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    try:
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=TIMEOUT_S,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=TIMEOUT_S)
        with client:
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"smtp: {type(exc).__name__}") from None


def send_sms(webhook_url: str, *, to: str, text: str) -> None:
    body = json.dumps({"to": to, "message": text}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(webhook_url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if not 200 <= response.status < 300:
                raise DeliveryError(f"sms gateway: HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"sms gateway: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"sms gateway: {type(exc).__name__}") from None
