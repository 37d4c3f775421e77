"""Abuse controls: request rate limits, in-flight generation slots, load shedding."""

from app.abuse.load_shedding import should_shed
from app.abuse.rate_limits import (
    RateDecision,
    RateLimiter,
    RateLimitRules,
    SlotUnavailable,
    ip_identity,
    visitor_identity,
)

__all__ = [
    "RateDecision",
    "RateLimitRules",
    "RateLimiter",
    "SlotUnavailable",
    "ip_identity",
    "should_shed",
    "visitor_identity",
]
