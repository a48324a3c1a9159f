"""``spoo-export schedules list|get|pause|resume|delete`` against SecantusDB over TCP: schedules made
through the real ScheduleStore for two owners (one paused), read and changed by the command with
settings from flags, as an operator runs it, and checked against what the owner's own store sees."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.exceptions import NotFound
from spoo_export_plugin.ops import cli
from spoo_export_plugin.schedules.store import ScheduleStore, schedule_object

from ..factories import unused_port
from ..jobs.conftest import ME, OTHER
from ..schedules.store_checks import URL, spec

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("SPOO_EXPORT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def schedules(mongo_db: Any, secantus_uri: str) -> dict[str, Any]:
    """ME's daily schedule (oldest), OTHER's, then ME's paused one (newest)."""
    store = ScheduleStore(ExportSettings(database=mongo_db))
    created = datetime.now(timezone.utc) - timedelta(minutes=30)
    docs = {
        "daily": store.create(ME, spec("0 8 * * *"), now=created),
        "theirs": store.create(OTHER, spec("30 6 * * 1", "UTC"), now=created + timedelta(seconds=1)),
        "paused": store.create(ME, spec("0 9 * * *", paused=True), now=created + timedelta(seconds=2)),
    }
    ids = {name: str(doc["_id"]) for name, doc in docs.items()}
    db_args = ["--mongodb-uri", secantus_uri, "--database-name", mongo_db.name]
    return {"ids": ids, "store": store, "db_args": db_args}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["schedules", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_owners_schedules_newest_first(schedules: dict[str, Any], capsys: Any) -> None:
    ids, store = schedules["ids"], schedules["store"]
    code, out, err = run(capsys, "list", *schedules["db_args"])
    assert (code, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split() == ["ID", "STATE", "NEXT", "RUN", "LAST", "RUN", "OWNER", "TIMEZONE", "CRON", "|", "URL"]
    assert [line.split()[0] for line in lines] == [ids["paused"], ids["theirs"], ids["daily"]]
    paused, theirs, daily = (line.split() for line in lines)
    assert paused[1:5] == ["paused", "-", "-", str(ME)]
    assert paused[5:] == ["Europe/Berlin", *"0 9 * * *".split(), "|", URL]
    next_run = schedule_object(store.get(OTHER, ids["theirs"]))["next_run_at"]
    assert theirs[1:5] == ["active", next_run, "-", str(OTHER)]
    assert theirs[5:] == ["UTC", *"30 6 * * 1".split(), "|", URL]
    assert daily[1] == "active" and daily[4] == str(ME)


def test_list_as_json_filters_by_owner_and_state_and_limits(schedules: dict[str, Any], capsys: Any) -> None:
    ids, store = schedules["ids"], schedules["store"]

    def listed(*flags: str) -> list[str]:
        code, out, err = run(capsys, "list", "--json", *flags, *schedules["db_args"])
        assert (code, err) == (0, "")
        return [shown["id"] for shown in json.loads(out)["schedules"]]

    code, out, _ = run(capsys, "list", "--json", *schedules["db_args"])
    assert json.loads(out)["schedules"] == [
        {**schedule_object(store.get(owner, ids[name])), "owner_id": str(owner)}
        for name, owner in (("paused", ME), ("theirs", OTHER), ("daily", ME))
    ]
    assert listed("--owner", str(ME)) == [ids["paused"], ids["daily"]]
    assert listed("--owner", str(OTHER)) == [ids["theirs"]]
    assert listed("--owner", "someone-else") == []
    assert listed("--paused") == [ids["paused"]]
    assert listed("--active") == [ids["theirs"], ids["daily"]]
    assert listed("--active", "--owner", str(ME)) == [ids["daily"]]
    assert listed("--limit", "2") == [ids["paused"], ids["theirs"]]


def test_list_bad_input_is_exit_2(schedules: dict[str, Any], capsys: Any) -> None:
    code, out, err = run(capsys, "list", "--limit", "0", *schedules["db_args"])
    assert (code, out, err) == (2, "", "spoo-export: error: --limit must be at least 1\n")
    with pytest.raises(SystemExit) as exited:
        run(capsys, "list", "--paused", "--active", *schedules["db_args"])
    assert exited.value.code == 2
    assert "argument --active: not allowed with argument --paused" in capsys.readouterr().err


def test_get_prints_the_api_schedule_object_plus_the_owner(schedules: dict[str, Any], capsys: Any) -> None:
    ids, store = schedules["ids"], schedules["store"]
    code, out, err = run(capsys, "get", ids["theirs"], *schedules["db_args"])
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown == {**schedule_object(store.get(OTHER, ids["theirs"])), "owner_id": str(OTHER)}
    assert shown["cron"] == "30 6 * * 1" and shown["paused"] is False and shown["next_run_at"].endswith("Z")


def test_pause_and_resume_act_as_the_owners_own(schedules: dict[str, Any], capsys: Any) -> None:
    ids, store = schedules["ids"], schedules["store"]
    code, out, err = run(capsys, "pause", ids["theirs"], *schedules["db_args"])
    assert (code, err) == (0, "")
    paused = json.loads(out)
    assert paused["paused"] is True and paused["next_run_at"] is None and paused["owner_id"] == str(OTHER)
    assert paused == {**schedule_object(store.get(OTHER, ids["theirs"])), "owner_id": str(OTHER)}
    code, out, _ = run(capsys, "pause", ids["theirs"], *schedules["db_args"])  # already paused: unchanged
    assert code == 0 and json.loads(out) == paused

    before = datetime.now(timezone.utc).replace(microsecond=0)
    code, out, err = run(capsys, "resume", ids["paused"], *schedules["db_args"])
    assert (code, err) == (0, "")
    resumed = json.loads(out)
    assert resumed["paused"] is False and resumed["owner_id"] == str(ME)
    next_run = datetime.fromisoformat(resumed["next_run_at"].replace("Z", "+00:00"))
    assert before < next_run <= before + timedelta(days=1)  # "0 9 * * *" Berlin: the first slot after now
    assert store.get(ME, ids["paused"])["paused"] is False
    code, out, _ = run(capsys, "list", "--paused", "--json", *schedules["db_args"])
    assert [shown["id"] for shown in json.loads(out)["schedules"]] == [ids["theirs"]]


def test_delete_removes_the_schedule(schedules: dict[str, Any], capsys: Any) -> None:
    ids, store = schedules["ids"], schedules["store"]
    code, out, err = run(capsys, "delete", ids["theirs"], *schedules["db_args"])
    assert (code, out, err) == (0, "", "")
    with pytest.raises(NotFound):
        store.get(OTHER, ids["theirs"])
    assert [str(doc["_id"]) for doc in store.list(ME)] == [ids["paused"], ids["daily"]]  # the others stay
    code, out, err = run(capsys, "delete", ids["theirs"], *schedules["db_args"])
    assert (code, out, err) == (1, "", f"spoo-export: error: no schedule {ids['theirs']!r}\n")


@pytest.mark.parametrize("schedule_id", ["0123456789abcdef01234567", "not-an-id"])
def test_an_unknown_schedule_is_exit_1(schedules: dict[str, Any], capsys: Any, schedule_id: str) -> None:
    for command in ("get", "pause", "resume", "delete"):
        code, out, err = run(capsys, command, schedule_id, *schedules["db_args"])
        assert (code, out, err) == (1, "", f"spoo-export: error: no schedule {schedule_id!r}\n")
    assert len(schedules["store"].list(ME)) == 2  # nothing changed


def test_unreachable_database_and_missing_settings(capsys: Any) -> None:
    uri = f"mongodb://127.0.0.1:{unused_port()}/"
    down = ["--mongodb-uri", uri, "--server-selection-timeout-ms", "300"]
    for args in (["list"], ["get", "0123456789abcdef01234567"], ["pause", "0123456789abcdef01234567"]):
        code, out, err = run(capsys, *args, *down)
        assert (code, out) == (1, "")
        assert err == "spoo-export: error: the statistics database is unreachable; try again shortly\n"
    code, _, err = run(capsys, "delete", "0123456789abcdef01234567")
    assert (code, err) == (2, "spoo-export: error: give --mongodb-uri URI or set SPOO_EXPORT_MONGODB_URI\n")


def test_settings_from_the_environment(schedules: dict[str, Any], capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPOO_EXPORT_* fill in what the flags do not give, including the schedules collection's name."""
    uri, name = schedules["db_args"][1], schedules["db_args"][3]
    monkeypatch.setenv("SPOO_EXPORT_MONGODB_URI", uri)
    monkeypatch.setenv("SPOO_EXPORT_DATABASE_NAME", name)
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and len(json.loads(out)["schedules"]) == 3
    monkeypatch.setenv("SPOO_EXPORT_SCHEDULES_COLLECTION", "elsewhere")
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out) == {"schedules": []}
    code, _, err = run(capsys, "get", schedules["ids"]["daily"])
    assert (code, err) == (1, f"spoo-export: error: no schedule {schedules['ids']['daily']!r}\n")
