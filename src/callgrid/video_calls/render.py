"""Domain objects into the video-calls API's JSON (the seed's names and types)."""

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from fastapi.responses import JSONResponse

from callgrid.calls.conflicts import ConflictReport
from callgrid.calls.models import Call
from callgrid.calls.scores import Standing
from callgrid.calls.status import call_status
from callgrid.directory.models import Host, Product
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import service as room_links
from callgrid.rooms.tokens import RoomSigner

STATUS_WORDS = {
    400: ("Bad request", "BAD_REQUEST"),
    401: ("Unauthorized", "UNAUTHORIZED"),
    403: ("Forbidden", "FORBIDDEN"),
    404: ("Not found", "NOT_FOUND"),
    405: ("Method not allowed", "METHOD_NOT_ALLOWED"),
    409: ("Conflict", "CONFLICT"),
    413: ("Payload too large", "PAYLOAD_TOO_LARGE"),
    415: ("Unsupported media type", "UNSUPPORTED_MEDIA_TYPE"),
    429: ("Too many requests", "TOO_MANY_REQUESTS"),
}

# Domain field names as this API spells them.
FIELD_NAMES = {
    "start_date": "startDate",
    "end_date": "endDate",
    "weekdays": "repeatingDays",
    "duration": "duration",
    "group_id": "groupId",
    "from_date": "fromDate",
    "timezone_name": "timezoneName",
    "title": "title",
    "product_id": "mango",
    "mango_id": "mango",
    "user_id": "userId",
    "id": "_id",
}


timestamp = utc_millis


@lru_cache(maxsize=4096)
def national_number(phone: str | None) -> int | None:
    """The seed's `phone` is the number without its country code, as a number: `+919876543210`
    -> `9876543210` (its `dialCode` is `+91`)."""
    if not phone:
        return None
    try:
        return phonenumbers.parse(phone, None).national_number
    except phonenumbers.NumberParseException:
        return None


def onboarding(host: Host) -> str:
    """`creator_completed` once the host's profile has its slug, phone, country and currency;
    `creator_pending` until then."""
    complete = all(getattr(host, name, None) for name in ("user_slug", "phone", "country", "currency"))
    return "creator_completed" if complete else "creator_pending"


def meeting_range(call: Call) -> str:
    return f"{timestamp(call.starts_at)} to {timestamp(call.ends_at)}"


def render_error(status: int, detail: str, errors: list[dict[str, str]], extra: dict[str, Any]) -> JSONResponse:
    kind, word = STATUS_WORDS.get(status, ("Error", "ERROR"))
    if errors:
        message = "; ".join(f"{FIELD_NAMES.get(e['field'], e['field'])}: {e['message']}" for e in errors)
    else:
        message = detail
    body = {"code": status, "type": kind, "statusMessage": word, "message": message, "success": False, **extra}
    if "request_id" in body:
        # The seed's shape with one field more, in the API's own spelling.
        body["requestId"] = body.pop("request_id")
    return JSONResponse(body, status_code=status)


def render_report(report: ConflictReport) -> dict[str, Any]:
    overlap_list = []
    for overlap in report.overlaps:
        proposed = report.proposed[overlap.proposed]
        existing = report.existing[overlap.existing]
        overlap_list.append(
            {
                "proposed": {"fromTime": timestamp(proposed.start), "toTime": timestamp(proposed.end)},
                "existing": {
                    "_id": str(existing.id),
                    "title": existing.title,
                    "fromTime": timestamp(existing.starts_at),
                    "toTime": timestamp(existing.ends_at),
                    "groupId": str(existing.series_id) if existing.series_id else None,
                },
            }
        )
    return {"maximumOverlap": report.maximum, "overlapList": overlap_list}


class Renderer:
    """Renders calls for one request: its clock, its white-label host, its public URL."""

    def __init__(
        self,
        *,
        now: datetime,
        public_url: str,
        whitelabel_host: str | None,
        offset: timedelta,
        signer: RoomSigner | None = None,
        dashboard_host: str | None = None,
    ):
        # Signs the links into calls' rooms (the room key in `meetingUrl`, the host's token).
        self.signer = signer
        self.now = now
        self.public_url = public_url.rstrip("/")
        # A registered white-label host: the links are on it. The dashboard's host name (any
        # the client gave) is only shown, as the creator's `host`.
        self.whitelabel_host = whitelabel_host
        self.dashboard = dashboard_host or whitelabel_host
        self.offset = offset

    @property
    def dashboard_host(self) -> str:
        return self.dashboard or (urlsplit(self.public_url).netloc or self.public_url)

    @property
    def base_url(self) -> str:
        return f"https://{self.whitelabel_host}" if self.whitelabel_host else self.public_url

    def meeting_url(self, call: Call) -> str:
        """The call's room page with its room key: anyone holding it joins, as a guest."""
        if self.signer is None:
            return f"{self.base_url}/rooms/{call.id}"
        return room_links.call_meeting_url(self.signer, self.base_url, call.id)

    def host_meeting_url(self, call: Call, host: Host) -> str | None:
        """The host's own link into the call's room (joins as `host`), valid until the call's end plus an hour."""
        if self.signer is None or call.host_id is None:
            return None
        return room_links.call_join_url(self.signer, self.base_url, call.id, str(call.host_id), call.ends_at)

    def local_date(self, call: Call) -> str:
        return (call.starts_at + self.offset).date().isoformat()

    def creator(self, host: Host, standing: Standing | None = None) -> dict[str, Any]:
        """The host as the seed's `creator`, from the host's profile; with `standing` (the list),
        its score and rank by completed calls (callgrid.calls.scores)."""
        creator = {
            "_id": str(host.id),
            "name": host.name,
            "email": host.email,
            "host": self.dashboard_host,
            "timezone": host.timezone,
            "userSlug": host.user_slug,
            "phone": national_number(host.phone),
            "dialCode": host.dial_code,
            "profilePicUrl": host.profile_pic_url,
            "country": host.country,
            "currency": host.currency,
            "isDeactivated": bool(host.is_deactivated),
            "onboarding": onboarding(host),
        }
        if standing is not None:
            creator["score"] = standing.score
            creator["leaderboardRank"] = standing.rank
        return creator

    @staticmethod
    def mango(product: Product | None) -> dict[str, Any] | None:
        if product is None:
            return None
        return {
            "_id": str(product.id),
            "creator": str(product.creator_id),
            "title": product.title,
            "price": float(product.price),
            "description": product.description,
            "recurringType": product.recurring_type,
            "noOfDays": product.no_of_days,
            "affiliateEnabled": bool(product.affiliate_enabled),
            "createdAt": timestamp(product.created_at),
            "updatedAt": timestamp(product.updated_at),
        }

    def call(self, call: Call, host: Host, product: Product | None, standing: Standing | None = None) -> dict[str, Any]:
        return {
            "_id": str(call.id),
            "title": call.title,
            "fromTime": timestamp(call.starts_at),
            "toTime": timestamp(call.ends_at),
            "status": call_status(call.status, call.starts_at, call.ends_at, self.now).value,
            "videocallType": "group",
            "ongoingCallType": "workshop",
            "platform": "callgrid",
            "meetingUrl": self.meeting_url(call),
            "whitelabelHost": self.whitelabel_host,
            "creator": self.creator(host, standing),
            "mango": self.mango(product),
            "groupId": str(call.series_id) if call.series_id else None,
            "timezoneName": call.timezone,
            "createdAt": timestamp(call.created_at),
            "updatedAt": timestamp(call.updated_at),
        }
