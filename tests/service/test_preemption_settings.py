"""The preemption settings read from flags, environment and TOML like every other setting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scheduler.app import parse_args
from scheduler.config import ConfigError, load
from scheduler.service.settings import SchedulerSettings


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


def test_the_quota_reclaim_delay_comes_from_flag_environment_and_file(tmp_path: Path) -> None:
    """`--quota-reclaim-delay 90` reaches SchedulerSettings, as SUANCHOU_QUOTA_RECLAIM_DELAY_S
    and the TOML key do; the default is 600 s and 0 (reclaim at the next cycle) is allowed."""
    args = parse_args(["--quota-reclaim-delay", "90"])
    assert load(None, {"quota_reclaim_delay_s": args.quota_reclaim_delay_s}, {}).scheduler == (
        replace(SchedulerSettings(), quota_reclaim_delay_s=90.0)
    )
    env = {"SUANCHOU_QUOTA_RECLAIM_DELAY_S": "0"}
    assert load(None, {}, env).scheduler.quota_reclaim_delay_s == 0
    toml = tmp_path / "server.toml"
    toml.write_text("[server]\nquota_reclaim_delay_s = 1800\n", encoding="utf-8")
    assert load(str(toml), {}, {}).scheduler.quota_reclaim_delay_s == 1800
    assert load(None, {}, {}).scheduler.quota_reclaim_delay_s == 600


def test_a_reclaim_delay_that_is_negative_endless_or_absurd_is_refused() -> None:
    """Negative, infinite and not-a-number delays and more than a year are refused, naming the
    key and quoting a bounded prefix of the value."""
    with pytest.raises(ConfigError, match="quota_reclaim_delay_s: must be non-negative"):
        load(None, {"quota_reclaim_delay_s": -1}, {})
    for value in ("inf", "nan"):
        with pytest.raises(ConfigError, match="quota_reclaim_delay_s: must be a finite number"):
            load(None, {}, {"SUANCHOU_QUOTA_RECLAIM_DELAY_S": value})
    with pytest.raises(ConfigError, match="quota_reclaim_delay_s: must be at most 31536000"):
        load(None, {"quota_reclaim_delay_s": 366 * 86400}, {})
    with pytest.raises(ConfigError) as err:
        load(None, {}, {"SUANCHOU_QUOTA_RECLAIM_DELAY_S": "x" * 500})
    assert len(str(err.value)) < 100


def test_deterministic_solving_is_a_boolean_setting(tmp_path: Path) -> None:
    """solver_deterministic is off by default, read as a boolean from the environment and the
    TOML file, and a word that is not a boolean is refused naming the key."""
    assert load(None, {}, {}).scheduler.solver_deterministic is False
    env = {"SUANCHOU_SOLVER_DETERMINISTIC": "true"}
    assert load(None, {}, env).scheduler.solver_deterministic is True
    assert (
        load(None, {}, {"SUANCHOU_SOLVER_DETERMINISTIC": "0"}).scheduler.solver_deterministic
        is False
    )
    toml = tmp_path / "server.toml"
    toml.write_text("[server]\nsolver_deterministic = true\n", encoding="utf-8")
    assert load(str(toml), {}, {}).scheduler.solver_deterministic is True
    with pytest.raises(ConfigError, match="solver_deterministic: expected true or false"):
        load(None, {}, {"SUANCHOU_SOLVER_DETERMINISTIC": "sometimes"})
