"""The preemption settings read from flags, environment and TOML like every other setting."""

from __future__ import annotations

import pytest

from scheduler.app import parse_args
from scheduler.config import ConfigError, load


def test_flags_and_environment_set_the_preemption_limits() -> None:
    """`--min-runtime 60 --max-preemptions-per-cycle 0` and SUANCHOU_MAX_PREEMPTIONS_PER_MINUTE
    reach SchedulerSettings; 0 is allowed for them (preemption off, no minimum)."""
    args = parse_args(["--min-runtime", "60", "--max-preemptions-per-cycle", "0"])
    config = load(
        None,
        {
            "min_runtime_s": args.min_runtime_s,
            "max_preemptions_per_cycle": args.max_preemptions_per_cycle,
            "max_preemptions_per_minute": args.max_preemptions_per_minute,
        },
        {"SUANCHOU_MAX_PREEMPTIONS_PER_MINUTE": "5"},
    )
    s = config.scheduler
    assert (s.min_runtime_s, s.max_preemptions_per_cycle, s.max_preemptions_per_minute) == (
        60.0,
        0,
        5,
    )
    assert load(None, {"min_runtime_s": 0}, {}).scheduler.min_runtime_s == 0


def test_negative_limits_and_zero_elsewhere_are_refused() -> None:
    """A negative limit is refused naming the key; 0 stays refused where it means nothing."""
    with pytest.raises(ConfigError, match="max_preemptions_per_cycle: must be non-negative"):
        load(None, {"max_preemptions_per_cycle": -1}, {})
    with pytest.raises(ConfigError, match="cycle_interval_s: must be positive"):
        load(None, {"cycle_interval_s": 0}, {})
