"""Settings that cannot work fail when ExportSettings is built, naming the setting."""

from __future__ import annotations

import pytest

from spoo_export_plugin import ConfigurationError, ExportSettings


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://127.0.0.1:27017/?replicaSet=rs0",
        "mongodb+srv://cluster0.example.net/db",
        "mongodb://user:p%40ss@db1,db2/?authSource=admin",
    ],
)
def test_mongodb_uris_with_their_two_schemes_are_accepted(uri):
    assert ExportSettings(mongodb_uri=uri).mongodb_uri == uri


@pytest.mark.parametrize(
    "uri, found",
    [
        ("mongo://x", " (it starts with 'mongo://')"),
        ("MONGODB://x", " (it starts with 'MONGODB://')"),  # pymongo reads only the lower-case scheme
        ("postgres://user:hunter2@db/clicks", " (it starts with 'postgres://')"),
        ("localhost:27017", ""),
        ("", None),  # empty: no database at all
    ],
)
def test_any_other_scheme_fails_when_settings_are_built(uri, found):
    with pytest.raises(ConfigurationError) as raised:
        ExportSettings(mongodb_uri=uri)
    message = str(raised.value)
    if found is None:
        assert message == "ExportSettings needs database= or mongodb_uri="
        return
    assert message == "mongodb_uri is not valid: it must start with mongodb:// or mongodb+srv://" + found
    assert "hunter2" not in message  # nothing past the scheme is echoed


def test_from_the_environment_too():
    with pytest.raises(ConfigurationError, match="^mongodb_uri is not valid"):
        ExportSettings.from_env({"SPOO_EXPORT_MONGODB_URI": "mongo://db.example:27017"})


def test_a_database_object_needs_no_uri():
    import mongomock

    assert ExportSettings(database=mongomock.MongoClient().db).mongodb_uri is None
