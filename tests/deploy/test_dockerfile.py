"""The Dockerfile, checked statically: no image can be built on these machines (no container
registry is reachable to pull the base image; README "Deploy"), so its rules are checked here."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import yaml

from tests.deploy.helm_render import CHARTS, REPO

DOCKERFILE = REPO / "Dockerfile"
# An exact release: X.Y.Z in the tag (no floating `3.11` or `latest`), or a sha256 digest.
PINNED = re.compile(
    r"^[\w./-]+:[\w.-]*\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$"
)


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _stages() -> list[Stage]:
    """The Dockerfile's stages, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def _values(stage: Stage, keyword: str) -> list[str]:
    return [rest for kw, rest in stage.instructions if kw == keyword]


def test_every_base_image_is_pinned_to_an_exact_release() -> None:
    """Each FROM names an exact release (X.Y.Z tag or a digest), never a floating tag."""
    stages = _stages()
    for stage in stages:
        assert PINNED.search(stage.base), f"FROM {stage.base} is not pinned"
        assert "latest" not in stage.base


def test_the_image_is_multi_stage_and_the_runtime_copies_only_the_built_environment() -> None:
    """The build stage installs; the final stage copies the virtualenv from it and nothing from
    the build context, so no compiler, pip cache or source tree reaches the image."""
    *builders, final = _stages()
    assert builders, "a single-stage Dockerfile"
    names = {b.name for b in builders}
    copies = _values(final, "COPY")
    assert copies
    for copy in copies:
        source = re.match(r"--from=(\S+)", copy)
        assert source and source.group(1) in names, f"COPY {copy} in the runtime stage"


def test_the_runtime_runs_as_the_charts_non_root_user() -> None:
    """The final USER is numeric and non-zero, the uid the charts' pods run as, so
    runAsNonRoot can check it; the entry point is the `suanchou` command the charts call."""
    final = _stages()[-1]
    users = _values(final, "USER")
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert gid.isdigit() and int(gid) > 0
    for chart in ("suanchou", "suanchou-agent"):
        values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
        assert values["podSecurity"]["runAsUser"] == int(uid), chart
        assert values["podSecurity"]["runAsGroup"] == int(gid), chart
    assert _values(final, "ENTRYPOINT") == ['["suanchou"]']


def test_no_instruction_fetches_from_a_url_or_copies_a_secret() -> None:
    """No ADD at all (it fetches URLs and unpacks archives implicitly); every COPY source of the
    build context exists in the repository and the .dockerignore keeps keys and tokens out."""
    for stage in _stages():
        assert _values(stage, "ADD") == [], "use COPY, not ADD"
        for copy in _values(stage, "COPY"):
            words = shlex.split(copy)
            if words[0].startswith("--from="):
                continue
            for source in words[:-1]:
                assert not re.match(r"\w+://", source), source
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    for pattern in ("**/*.key", "**/*.token", "**/*.pem"):
        assert pattern in ignored


def test_the_build_installs_the_kubernetes_client_the_agent_chart_needs() -> None:
    """The build installs the package with its `kubernetes` extra (the agent chart runs the
    Kubernetes executor with this image), and that extra exists in pyproject.toml."""
    build = _stages()[0]
    assert any("'.[kubernetes]'" in run for run in _values(build, "RUN"))
    assert "\nkubernetes = [" in (REPO / "pyproject.toml").read_text()
