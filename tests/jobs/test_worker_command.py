"""``spoo-export worker``'s refusals: one line on stderr and exit code 2, before anything runs."""

from __future__ import annotations

import pytest

from spoo_export_plugin.ops import cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job-queue", "immediate://"], "job_queue=immediate:// runs each job inside its POST"),
        ([], "a worker needs job_queue (SPOO_EXPORT_JOB_QUEUE)"),
        (["--job-queue", "sqlite:///tmp/q.db", "--workers", "0"], "--workers must be at least 1"),
        (["--job-queue", "amqp://x"], "job_queue='amqp://x': expected immediate://"),
        (
            ["--job-queue", "sqlite:///tmp/q.db", "--signing-secret", "hunter2hunter2"],
            "signing_secret must be at least 32",
        ),
    ],
)
def test_bad_settings_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SPOO_EXPORT_JOB_QUEUE", "SPOO_EXPORT_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    code = cli.main(["worker", "--mongodb-uri", "mongodb://127.0.0.1:9", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("spoo-export: error: ") and message in err and err.count("\n") == 1
    assert "hunter2" not in err  # a secret's value is never echoed
