"""The webhooks' settings, read from the lms_outcomes plugin's settings through the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lms_hooks.host import LmsHost

#: The webhooks are settings of the plugin they report on.
PLUGIN = "lms_outcomes"
#: Seconds to wait after each failed attempt: 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h,
#: 8 h. Ten attempts over 23 h 51 min; after the last one fails, the delivery has failed.
DEFAULT_RETRY_DELAYS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 28800.0)
#: Seconds a receiver has to answer (connecting included).
DEFAULT_TIMEOUT = 10.0


class WebhookSettingsError(ValueError):
    """A webhooks setting has a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    endpoints: tuple[Endpoint, ...] = ()
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, host: LmsHost) -> WebhookSettings:
        return cls.from_mapping(host.plugin_settings(PLUGIN))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WebhookSettings:
        return cls(
            endpoints=_endpoints(raw.get("webhooks", [])),
            retry_delays=_delays(raw.get("webhook_retry_delays", DEFAULT_RETRY_DELAYS)),
            timeout=_positive("webhook_timeout", raw.get("webhook_timeout", DEFAULT_TIMEOUT)),
        )

    def secret_of(self, url: str) -> str | None:
        return next((e.secret for e in self.endpoints if e.url == url), None)


def _endpoints(value: Any) -> tuple[Endpoint, ...]:
    message = 'setting \'webhooks\' must be a list of {"url": ..., "secret": ...} objects'
    if not isinstance(value, list):
        raise WebhookSettingsError(message)
    endpoints = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"url", "secret"}:
            raise WebhookSettingsError(message)
        url, secret = item["url"], item["secret"]
        if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise WebhookSettingsError(f"webhook url {url!r} is not an http(s) URL")
        if not (isinstance(secret, str) and secret):
            raise WebhookSettingsError(f"webhook {url} needs a non-empty secret")
        endpoints.append(Endpoint(url, secret))
    if len({e.url for e in endpoints}) < len(endpoints):
        raise WebhookSettingsError("setting 'webhooks' names a URL twice")
    return tuple(endpoints)


def _delays(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise WebhookSettingsError(
            "setting 'webhook_retry_delays' must be a non-empty list of seconds"
        )
    return tuple(_positive("webhook_retry_delays", delay) for delay in value)


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise WebhookSettingsError(f"setting {name!r} must be a positive number of seconds")
    return float(value)
