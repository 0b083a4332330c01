"""Logging: one format for every process (`serve`, `worker`, the CLI), text or JSON.

- Every record of a request carries its request id (`request_id`, from a context variable the
  request middleware sets), whoever logs it.
- Every record goes through `redact` before it is written: API keys (`cg_...`), webhook
  secrets (`whsec_...`), join tokens (JWTs), bearer tokens, the values of secret-looking
  query parameters (`?token=`, `?key=`, ...) and URL passwords become `***`. That is the last
  line of defence: the code logs no secret in the first place (routes are logged by their
  template, never with a query string; webhook targets without query or user info).
- Structured fields go in `extra={"fields": {...}}`: appended as `key=value` to a text line,
  merged into the JSON object.
"""

import json
import logging
import logging.config
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

LEVELS = ("debug", "info", "warning", "error")

# The id of the request being served by the current task (None outside requests).
request_id_var: ContextVar[str | None] = ContextVar("callgrid_request_id", default=None)

_SECRET_PARAMS = r"token|key|api_key|apikey|access_token|secret|password|passwd|sig|signature|code"
_REDACTIONS = (
    # URL user info: scheme://user:password@host
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\1:***@"),
    # query (or form) parameters that carry secrets: ?token=..., &key=...
    (re.compile(rf"(?i)([?&;](?:{_SECRET_PARAMS})=)[^&\s\"'#]*"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1***"),
    (re.compile(r"\bcg_[A-Za-z0-9_-]{8,}"), "cg_***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{8,}"), "whsec_***"),
    # JWTs (join tokens): three base64url parts, the first a JSON object
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "***"),
)
# A message none of these appear in needs no regular expression.
_TRIGGERS = ("=", "://", "earer", "cg_", "whsec_", "eyJ")


def redact(text: str) -> str:
    if not any(trigger in text for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Adds the current request id to every record and redacts the message (and a traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned is not message and cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def _timestamp(record: logging.LogRecord) -> str:
    seconds = int(record.created)
    millis = int((record.created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _text_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text) if (not text or " " in text or '"' in text) else text


class TextFormatter(logging.Formatter):
    """`2026-11-24T10:00:00.123Z INFO callgrid.http: POST /v1/x 201 duration_ms=3.1 ... request_id=...`"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, f"{record.name}:", record.getMessage()]
        for key, value in (getattr(record, "fields", None) or {}).items():
            parts.append(f"{key}={_text_value(value)}")
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            parts.append(f"request_id={request_id}")
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's fields, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "json_fields", None) or {})
        data.update(getattr(record, "fields", None) or {})
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            data["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def formatter(kind: str = "text") -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def logging_config(level: str = "info", kind: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a process: Callgrid's loggers, uvicorn's and the rest
    (root) to stderr in one format. uvicorn's access log is off: Callgrid logs each request
    itself (by route template, so no query string reaches the log)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "callgrid.observability.logs.ContextFilter"}},
        "formatters": {"callgrid": {"()": "callgrid.observability.logs.formatter", "kind": kind}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "callgrid",
                "filters": ["context"],
            }
        },
        "loggers": {
            "callgrid": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        # Libraries (SQLAlchemy, httpx, asyncio, ...): warnings and worse, in the same format.
        "root": {"handlers": ["stderr"], "level": "WARNING" if level in ("DEBUG", "INFO") else level},
    }


def configure_logging(level: str = "info", kind: str = "text") -> None:
    logging.config.dictConfig(logging_config(level, kind))


def fail(message: str) -> None:
    """One line on stderr, as is, for a command that cannot go on (no traceback)."""
    print(redact(" ".join(message.split())), file=sys.stderr, flush=True)
