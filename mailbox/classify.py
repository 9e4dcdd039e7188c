"""What an incoming message is: hard bounce, soft bounce, auto-reply, human reply or other.

Interface shared by the sync, the classify_mail command and the tests; see classify_message().
"""
import dataclasses
import datetime


@dataclasses.dataclass(frozen=True)
class Verdict:
    kind: str  # hard_bounce | soft_bounce | auto_reply | human_reply | other
    failed_recipient: str | None = None  # lower-case, bounces only
    status_code: str | None = None  # RFC 3463 enhanced code, e.g. "5.1.1"
    diagnostic: str = ""  # the remote server's words, bounces only
    return_date: datetime.date | None = None  # auto-replies that state one
    is_delay_warning: bool = False  # a "still trying" notice: soft, never a failure


def classify_message(raw: bytes) -> Verdict:
    raise NotImplementedError
