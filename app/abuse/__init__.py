"""Abuse controls: request request rate limits and load shedding."""

from app.abuse.load_shedding import should_shed
from app.abuse.rate_limits import (
    RateDecision,
    RateLimiter,
    RateLimitRules,
    ip_identity,
    visitor_identity,
)

__all__ = [
    "RateDecision",
    "RateLimitRules",
    "RateLimiter",
    "ip_identity",
    "should_shed",
    "visitor_identity",
]
