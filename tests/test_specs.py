"""``--platform NAME@VERSION``: parsing, the target floors, and whether a version exists on the index."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from packaging.version import Version

from retrain_bench.errors import BenchError
from retrain_bench.platforms.specs import PackageIndex, PlatformSpec, _released, nearest, parse_specs

KNOWN = ("flyte", "kfp", "bare")


def parse(text: str, target: str = "local") -> tuple[PlatformSpec, ...]:
    return parse_specs(text, KNOWN, target=target)


def one_line_error(text: str, target: str = "local", index: PackageIndex | None = None) -> str:
    with pytest.raises(BenchError) as raised:
        parse_specs(text, KNOWN, target=target, index=index)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_names_and_versions_in_the_order_given() -> None:
    specs = parse("flyte@1.15.4, kfp ,flyte@1.16.31,,bare,")  # empty items are skipped, as before
    assert [s.label for s in specs] == ["flyte@1.15.4", "kfp", "flyte@1.16.31", "bare"]
    assert specs[0] == PlatformSpec("flyte", "1.15.4")
    assert specs[1].version is None


def test_an_unknown_platform_names_the_known_ones() -> None:
    message = one_line_error("flyte,airflow@3.3.2")
    assert message == "--platform: unknown 'airflow'; choose from flyte, kfp, bare"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("flyte@", "'' is not an exact version of flytekit"),
        ("flyte@>=1.15", "'>=1.15' is not an exact version of flytekit"),
        ("flyte@1.15.4@2", "'1.15.4@2' is not an exact version"),
        ("@1.15.4", "is not NAME or NAME@VERSION"),
        ("bare@3.11", "bare has no SDK to pin"),
    ],
)
def test_a_malformed_spec_is_one_line(text: str, says: str) -> None:
    assert says in one_line_error(text)


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("kfp,flyte,kfp", "kfp", "kfp"),
        ("flyte@1.15.4,flyte@1.15.4", "flyte@1.15.4", "flyte@1.15.4"),
        # PEP 440: 1.15.4.0 is 1.15.4, so this is the same environment asked for twice.
        ("flyte@1.15.4,flyte@1.15.4.0", "flyte@1.15.4", "flyte@1.15.4.0"),
    ],
)
def test_the_same_spec_twice_is_refused(text: str, first: str, second: str) -> None:
    assert f"{second!r} is the same as {first!r}" in one_line_error(text)


def test_the_bare_name_and_a_pinned_version_are_two_specs() -> None:
    # `flyte` runs in the main environment, `flyte@1.16.31` in its own, even at the same version.
    assert [s.label for s in parse("flyte,flyte@1.16.31")] == ["flyte", "flyte@1.16.31"]


def test_kfp_below_2_17_cannot_run_locally_and_says_what_is_missing() -> None:
    message = one_line_error("kfp@2.16.1")
    assert message.startswith("--platform: kfp@2.16.1 cannot run on the local target")
    for feature in ("dsl.If", "dsl.ParallelFor", "dsl.Collected", "local.init(enable_caching=...)"):
        assert feature in message
    assert message.endswith("the first version that has them is 2.17.0")


def test_the_floor_is_per_target_and_inclusive() -> None:
    assert parse("kfp@2.17.0")[0].version == "2.17.0"
    # On a cluster the SDK only compiles and submits; no local-runner floor applies there.
    assert parse("kfp@2.16.1", target="cluster")[0].version == "2.16.1"


def test_the_floor_is_checked_before_the_index_is_asked(tmp_path: Path) -> None:
    # An index that cannot answer: reaching it would fail with "did not answer", not the floor's line.
    index = PackageIndex(tmp_path, url=f"http://127.0.0.1:{_closed_port()}/simple")
    assert "cannot run on the local target" in one_line_error("flyte@1.15.4,kfp@2.16.1", index=index)


def test_nearest_versions_skip_pre_releases_unless_asked_for_one() -> None:
    versions = [Version(v) for v in ("1.15.3", "1.15.4", "1.16.0b0", "1.16.0", "1.16.1", "1.17.0")]
    assert [str(v) for v in nearest(versions, Version("1.15.99"))] == ["1.15.3", "1.15.4", "1.16.0", "1.16.1"]
    assert [str(v) for v in nearest(versions, Version("1.16.0b3"))] == ["1.15.4", "1.16.0b0", "1.16.0", "1.16.1"]
    assert [str(v) for v in nearest(versions, Version("0.1"))] == ["1.15.3", "1.15.4"]


def test_released_versions_come_from_file_names_and_skip_yanked_files() -> None:
    # A PEP 691 page as PyPI serves it: 1.1.0 has only a yanked file, 1.0.0 a wheel and an sdist.
    page = {
        "meta": {"api-version": "1.1"},
        "name": "demo-sdk",
        "versions": ["1.0.0", "1.1.0", "2.0.0rc1"],
        "files": [
            {"filename": "demo_sdk-1.0.0-py3-none-any.whl", "yanked": False},
            {"filename": "demo_sdk-1.0.0.tar.gz", "yanked": False},
            {"filename": "demo_sdk-1.1.0-py3-none-any.whl", "yanked": "broken metadata"},
            {"filename": "demo-sdk-2.0.0rc1.tar.gz"},
            {"filename": "demo_sdk-0.9.win32.exe"},
        ],
    }
    assert _released(page) == (Version("1.0.0"), Version("2.0.0rc1"))


def test_a_version_that_does_not_exist_names_the_nearest_ones(tmp_path: Path) -> None:
    index = PackageIndex(tmp_path)  # the real index (PyPI unless UV_DEFAULT_INDEX says otherwise)
    try:
        index.versions("flytekit", refresh=False)
    except BenchError as exc:
        pytest.skip(f"no package index here: {exc}")
    # flytekit's releases around 1.15.99: the last two 1.15 patches and the first two 1.16 releases
    # (its 1.16.0b* pre-releases are not offered for a final version).
    message = one_line_error("flyte@1.15.99", index=index)
    assert message == "--platform: flytekit has no version 1.15.99; the nearest are 1.15.3, 1.15.4, 1.16.0, 1.16.1"
    assert parse_specs("flyte@1.15.4", KNOWN, target="local", index=index)[0].version == "1.15.4"


def test_the_index_answer_is_cached_and_serves_when_offline(tmp_path: Path) -> None:
    offline = PackageIndex(tmp_path, url=f"http://127.0.0.1:{_closed_port()}/simple")
    message = one_line_error("flyte@1.15.4", index=offline)
    assert message.startswith("cannot check which versions of flytekit exist: the package index http://127.0.0.1:")
    assert "did not answer" in message
    assert not list(tmp_path.rglob("*.json"))  # a failed question leaves no answer behind
    # A cached answer, as an earlier online run leaves it, serves while the index is unreachable.
    cache = offline.cache_file("flytekit")
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"asked": 0.0, "versions": ["1.15.3", "1.15.4"]}))
    assert parse_specs("flyte@1.15.4", KNOWN, target="local", index=offline)[0].version == "1.15.4"
    assert "the nearest are 1.15.3, 1.15.4" in one_line_error("flyte@1.16.0", index=offline)


def test_credentials_in_the_index_url_stay_out_of_the_message(tmp_path: Path) -> None:
    index = PackageIndex(tmp_path, url=f"http://user:s3cret@127.0.0.1:{_closed_port()}/simple")
    message = one_line_error("flyte@1.15.4", index=index)
    assert "s3cret" not in message and "user" not in message and "***@127.0.0.1" in message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
