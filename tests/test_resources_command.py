"""``retrain-bench resources`` against the planted Prometheus: exact output, one-line errors, exit 2."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from tests.prometheus import GIB, MIB, T0, free_port

# 2024-01-01T00:01:02Z … 00:04:02Z: the window of tests/test_prometheus.py.
START, END = "2024-01-01T00:01:02Z", "2024-01-01T01:04:02+01:00"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["resources", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def planted(url: str, *extra: str) -> list[str]:
    return [
        "--prometheus-url",
        url,
        "--prometheus-namespace",
        "bench",
        "--prometheus-pod-regex",
        "ab-.*",
        "--start",
        START,
        "--end",
        END,
        "--rate-window",
        "30",
        *extra,
    ]


@pytest.mark.prometheus
def test_json_output(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *planted(prometheus_url, "--format", "json"))
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    document = json.loads(out)
    assert list(document) == [
        "memory_peak_gib",
        "memory_avg_gib",
        "cpu_peak_mcpu",
        "cpu_avg_mcpu",
        "cpu_seconds",
        "samples",
    ]
    assert document["memory_peak_gib"] == 450 * MIB / GIB
    # see test_prometheus.py for the working: (150·180 + 200·82.5 + 100·5) MiB·s over 180 s
    assert document["memory_avg_gib"] == pytest.approx(44000 * MIB / 180 / GIB, rel=1e-12)
    assert document["cpu_peak_mcpu"] == pytest.approx(1750, rel=1e-12)
    assert document["cpu_avg_mcpu"] == pytest.approx(1000 * 217 / 180, rel=1e-12)
    assert document["cpu_seconds"] == 217  # 90 + 82 + 45
    assert document["samples"] == 178


@pytest.mark.prometheus
def test_json_output_names_what_is_missing(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = planted(prometheus_url, "--format", "json", "--start", str(T0 + 62), "--end", str(T0 + 242))
    args[args.index("bench")] = "nowhere"
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, "")
    reason = "Prometheus has no {} data for namespace(s) nowhere in the window"
    assert json.loads(out) == {
        "memory_peak_gib": None,
        "memory_avg_gib": None,
        "cpu_peak_mcpu": None,
        "cpu_avg_mcpu": None,
        "cpu_seconds": None,
        "samples": 0,
        "missing": {
            "memory_peak_gib": reason.format("memory"),
            "memory_avg_gib": reason.format("memory"),
            "cpu_seconds": reason.format("cpu_counter"),
            "cpu_avg_mcpu": reason.format("cpu_counter"),
            "cpu_peak_mcpu": reason.format("cpu_counter"),
        },
    }


@pytest.mark.prometheus
def test_table_output(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *planted(prometheus_url))
    assert (code, err) == (0, "")
    assert out == (
        f"prometheus   {prometheus_url}\n"
        'selector     namespace="bench",pod=~"ab-.*"\n'
        "window       2024-01-01T00:01:02Z + 180 s\n"
        "interval     memory 5 s (samples)\n"
        "interval     cpu_counter 5 s (samples)\n"
        "memory peak  0.439 GiB\n"
        "memory avg   0.239 GiB\n"
        "cpu peak     1750 mCPU (rate over 30 s)\n"
        "cpu avg      1206 mCPU\n"
        "cpu seconds  217.00 s\n"
        "samples      178\n"
        "pods seen    3\n"
    )


@pytest.mark.prometheus
def test_pods_by_name(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = planted(prometheus_url, "--format", "json", "--pod", "ab-n0-0", "--pod", "ab-n2-0")
    del args[args.index("--prometheus-pod-regex") : args.index("--prometheus-pod-regex") + 2]
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert json.loads(out)["cpu_seconds"] == 90 + 45


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"--start": "2024-01-01T00:01:02"},
            "--start: '2024-01-01T00:01:02' has no time zone; add one (Z, +02:00) or give unix seconds",
        ),
        (
            {"--end": "yesterday"},
            "--end: 'yesterday' is not a time; give unix seconds or ISO-8601 with a zone, e.g. 2024-01-01T00:00:00Z",
        ),
        (
            {"--end": START},
            "the window must end after it starts (start 2024-01-01T00:01:02Z, end 2024-01-01T00:01:02Z)",
        ),
        (
            {"--prometheus-pod-regex": "ab-(.*"},
            "pod regex: 'ab-(.*' is not a valid regular expression (missing ), unterminated subpattern at position 3)",
        ),
        (
            {"--prometheus-url": "127.0.0.1:9090"},
            "Prometheus URL '127.0.0.1:9090' must be http(s)://host[:port][/path]",
        ),
        ({"--prometheus-url": "http://h:port"}, "Prometheus URL 'http://h:port' cannot be parsed"),
        ({"--step": "0"}, "--step: '0' must be a positive number of seconds"),
        ({"--scrape-interval": "0"}, "--scrape-interval: '0' must be a positive number of seconds"),
        (
            {"--scrape-interval": "20"},
            "rate window: 30 s is shorter than two scrape intervals (40 s); "
            "a window needs two samples of each container",
        ),
        (
            {"--metrics-profile": "/nonexistent.yaml"},
            "/nonexistent.yaml: cannot read the metric profile (No such file or directory)",
        ),
    ],
    ids=[
        "naive-time",
        "not-a-time",
        "end-not-after-start",
        "bad-regex",
        "no-scheme",
        "bad-port",
        "zero-step",
        "zero-interval",
        "interval-too-large-for-the-rate-window",
        "no-profile",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], change: dict[str, str], message: str
) -> None:
    args = planted("http://127.0.0.1:9")
    for option, value in change.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "")
    assert err == f"retrain-bench: error: {message}\n"


def test_an_unreachable_server_is_one_line_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, out, err = run(capsys, *planted(f"https://bob:hunter2@127.0.0.1:{port}/prom"))
    assert (code, out) == (2, "")
    assert err == (
        f"retrain-bench: error: metric memory: cannot reach Prometheus at https://***@127.0.0.1:{port}/prom "
        "(Connection refused)\n"
    )


def test_python_m_bench_exits_2_without_a_traceback(tmp_path: Path) -> None:
    args = planted(f"http://alice:s3cret@127.0.0.1:{free_port()}")
    result = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "resources", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parents[1]), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr and "alice" not in result.stderr


@pytest.mark.prometheus
def test_the_old_spellings_still_work(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--prometheus``, ``--namespace``, ``--pod-regex``, ``--insecure-skip-tls-verify``: hidden aliases of the
    pytest spellings, so scripts written before the rename give the same figures."""
    old = ["--prometheus", prometheus_url, "--namespace", "bench", "--pod-regex", "ab-.*", "--insecure-skip-tls-verify"]
    code, out, err = run(capsys, *old, "--start", START, "--end", END, "--rate-window", "30", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["cpu_seconds"] == 217  # as test_json_output: 90 + 82 + 45


@pytest.mark.prometheus
def test_namespaces_take_a_comma_list_as_in_pytest(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = planted(prometheus_url, "--format", "json")
    args[args.index("bench")] = "nowhere,bench"
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert json.loads(out)["cpu_seconds"] == 217  # "nowhere" adds nothing


def test_help_shows_only_the_pytest_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["resources", "--help"])
    text = capsys.readouterr().out
    for shown in ("--prometheus-url URL", "--prometheus-namespace NS", "--prometheus-pod-regex RE"):
        assert shown in text
    assert "--prometheus-insecure-skip-verify" in text
    for hidden in ("--prometheus ", "--namespace", "--pod-regex RE", "--insecure-skip-tls-verify"):
        assert hidden not in text.replace("--prometheus-pod-regex RE", "")


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("--prometheus-url", "--prometheus-url is required: the Prometheus to read, e.g. http://127.0.0.1:9090"),
        ("--prometheus-namespace", "--prometheus-namespace is required: at least one namespace to measure"),
    ],
)
def test_a_missing_required_option_is_one_line(capsys: pytest.CaptureFixture[str], drop: str, message: str) -> None:
    args = planted("http://127.0.0.1:9")
    del args[args.index(drop) : args.index(drop) + 2]
    code, out, err = run(capsys, *args)
    assert (code, out, err) == (2, "", f"retrain-bench: error: {message}\n")


def test_a_window_in_the_future_says_it_has_not_happened(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: figures null with "no data", not saying the window is still to come."""
    args = planted("http://127.0.0.1:9")
    args[args.index("--start") + 1], args[args.index("--end") + 1] = "4102444800", "4102448400"  # 2100-01-01
    assert run(capsys, *args) == (
        2,
        "",
        "retrain-bench: error: the window has not happened yet: --start 2100-01-01T00:00:00Z is in the future; "
        "measure a window that has begun (unix seconds or ISO-8601 with a zone)\n",
    )


@pytest.mark.prometheus
def test_a_window_ending_in_the_future_warns(prometheus_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = planted(prometheus_url, "--format", "json")
    now = int(time.time())
    args[args.index("--start") + 1], args[args.index("--end") + 1] = str(now - 60), str(now + 600)
    code, out, err = run(capsys, *args)
    assert code == 0
    end = dt.datetime.fromtimestamp(now + 600, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert err == (
        f"retrain-bench: warning: the window ends in the future (--end {end}): only its part up to "
        "now has samples, and the averages still divide by the whole window\n"
    )
    assert json.loads(out)["samples"] == 0  # the planted data is from 2024
