"""Parsing and formatting of human resource quantities."""

from __future__ import annotations

import pytest

from agents.quantities import format_quantity, format_resources, parse_quantity, parse_resources


@pytest.mark.parametrize(
    ("value", "millicores"),
    [("4", 4000), (4, 4000), (0.5, 500), ("0.5", 500), ("500m", 500), ("1.25", 1250), (0, 0)],
)
def test_cpu_forms_become_millicores(value: object, millicores: int) -> None:
    """CPU given as cores (int, float or string) or as "Nm" millicores becomes millicores."""
    assert parse_quantity("cpu", value) == millicores


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("8Gi", 8192),
        ("512Mi", 512),
        ("1Ti", 1024 * 1024),
        ("1.5Gi", 1536),
        (2048, 2048),
        ("2048", 2048),
        ("2G", 1908),  # 2e9 bytes = 1907.35 MiB, rounded up
        ("2M", 2),  # 2e6 bytes = 1.9 MiB, rounded up
        ("1024Ki", 1),
    ],
)
def test_memory_forms_become_mib(value: object, mib: int) -> None:
    """Binary suffixes are exact, decimal ones round up to MiB, a bare number is MiB."""
    assert parse_quantity("memory", value) == mib


def test_other_resources_are_whole_counts() -> None:
    """Accelerators are counted, from an int or a numeric string."""
    assert parse_quantity("nvidia.com/gpu", 8) == 8
    assert parse_quantity("huawei.com/ascend", "4") == 4


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("cpu", "-1", "cpu: must not be negative"),
        ("cpu", "0.0001", "cpu: '0.0001' is finer than one millicore"),
        ("cpu", "fourm", "cpu: 'fourm' is not a quantity"),
        ("cpu", True, "cpu: expected a number"),
        ("memory", "8GB", "memory: '8GB' is not a quantity"),
        ("memory", "lots", "memory: 'lots' is not a quantity"),
        ("memory", 1 << 41, "memory: 2199023255552 is absurdly large"),
        ("nvidia.com/gpu", 0.5, "nvidia.com/gpu: must be a whole number of devices"),
        ("nvidia.com/gpu", "nan", "nvidia.com/gpu: 'nan' is not a finite number"),
        ("GPU", 1, "'GPU': not a resource name"),
    ],
)
def test_bad_quantities_raise_naming_the_resource(name: str, value: object, message: str) -> None:
    """Every rejection is a ValueError whose message starts with the resource name."""
    with pytest.raises(ValueError) as info:
        parse_quantity(name, value)
    assert str(info.value).startswith(message)


def test_parse_resources_parses_every_entry() -> None:
    """A mapping of human quantities becomes canonical integers per resource."""
    assert parse_resources({"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}) == {
        "cpu": 2000,
        "memory": 4096,
        "nvidia.com/gpu": 1,
    }
    with pytest.raises(ValueError, match=r"^memory: "):
        parse_resources({"cpu": 1, "memory": "4 gigs"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("cpu", 4000), ("cpu", 500), ("cpu", 1500), ("memory", 8192), ("memory", 1536),
     ("memory", 1 << 20), ("memory", 0), ("nvidia.com/gpu", 3)],
)  # fmt: skip
def test_format_round_trips(name: str, value: int) -> None:
    """The formatted form parses back to the same canonical value."""
    assert parse_quantity(name, format_quantity(name, value)) == value


def test_format_resources_is_readable() -> None:
    """Resources format as sorted name=quantity pairs in human units."""
    text = format_resources({"memory": 8192, "cpu": 500, "nvidia.com/gpu": 2})
    assert text == "cpu=500m,memory=8Gi,nvidia.com/gpu=2"
    assert format_resources({}) == "-"
