"""``barbershop worker`` and ``barbershop scheduler`` as the processes an operator runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.pipeline.conftest import OpenPipeline
from tests.integration.pipeline.support import FakeSmsRu, Step, wait_for

pytestmark = pytest.mark.redis

PHONE = "+79161234506"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- our own CLI, run by the test's interpreter
        [sys.executable, "-m", "barbershop_entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scheduler_help_says_to_run_a_single_instance_and_why_two_are_still_safe(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BARBERSHOP_")}
    answer = cli("scheduler", "--help", env=env | {"BARBERSHOP_DATA_DIR": str(tmp_path)})
    assert answer.returncode == 0, answer.stderr
    assert "Run it as a single instance" in answer.stdout
    assert "Two running at once are still safe" in answer.stdout


def test_worker_without_a_broker_url_says_the_queue_runs_inside_serve(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BARBERSHOP_")}
    answer = cli("worker", env=env | {"BARBERSHOP_DATA_DIR": str(tmp_path)})
    assert answer.returncode == 2
    assert "no BARBERSHOP_BROKER_URL" in answer.stderr


def test_a_worker_stopped_with_sigterm_finishes_the_send_in_progress_and_acknowledges_it(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    fake_sms.script = [Step(delay=1.5)]  # the provider takes its time, then accepts
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        worker = pipeline.worker()
        notification_id = pipeline.register(PHONE)["notification_id"]
        wait_for(lambda: len(fake_sms.requests) == 1, timeout=15, what="the send to reach the provider")

        assert worker.stop() == 0
        assert pipeline.notification(notification_id)["status"] == "sent"
        assert pipeline.pending() == 0
    assert len(fake_sms.accepted) == 1
