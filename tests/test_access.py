"""Origin policy and rate limiting on their own: the values Settings.allowed_origins turns into,
and token buckets driven by a fake clock. The HTTP behaviour is in test_api.py."""

import pytest

from assistant import ConfigError
from assistant.web.access import OriginPolicy, RateLimiter


def test_default_policy_allows_only_self_and_localhost():
    policy = OriginPolicy.from_settings(())
    assert policy.frame_ancestors() == (
        "frame-ancestors 'self' http://localhost:* http://127.0.0.1:* https://localhost:*"
    )
    options = policy.cors_options()
    assert options["allow_origins"] == []
    assert options["allow_credentials"] is False


def test_configured_origins_are_normalized_and_added():
    policy = OriginPolicy.from_settings([" https://School.Example/ ", "http://lms.test:8080"])
    assert policy.origins == ("https://school.example", "http://lms.test:8080")
    assert policy.frame_ancestors().endswith("https://school.example http://lms.test:8080")
    assert policy.cors_options()["allow_origins"] == [
        "https://school.example",
        "http://lms.test:8080",
    ]


def test_star_lets_anyone_embed():
    policy = OriginPolicy.from_settings(["*"])
    assert policy.frame_ancestors() == "frame-ancestors *"
    assert policy.cors_options()["allow_origins"] == ["*"]


@pytest.mark.parametrize(
    "bad", ["school.example", "https://school.example/course", "ftp://x.org", ""]
)
def test_a_bad_origin_is_refused_with_its_value(bad):
    with pytest.raises(ConfigError, match="allowed origin"):
        OriginPolicy.from_settings([bad])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_minutes_burst_then_refills_evenly():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one a second
    assert [limiter.retry_after("a") for _ in range(60)] == [0] * 60
    assert limiter.retry_after("a") == 1
    assert limiter.retry_after("b") == 0  # clients do not share a bucket
    clock.now += 1.0
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 1
    clock.now += 0.5
    assert limiter.retry_after("a") == 1  # half a token back is not a request


def test_rate_limiter_retry_after_counts_whole_seconds():
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # one every ten seconds
    for _ in range(6):
        assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 10


def test_zero_turns_rate_limiting_off():
    limiter = RateLimiter(0)
    assert all(limiter.retry_after("a") == 0 for _ in range(1000))


def test_rate_limiter_forgets_idle_clients_past_its_bound():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    limiter.max_clients = 10
    for n in range(10):
        limiter.retry_after(f"idle-{n}")
    clock.now += 120  # long enough for every bucket to be full again
    limiter.retry_after("new-1")
    limiter.retry_after("new-2")
    assert len(limiter._buckets) <= 2
