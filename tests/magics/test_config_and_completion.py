"""Defaults from TOML files and %config; kernel-side completion through IPython's completer."""

from __future__ import annotations

import pytest
from IPython.core.completer import provisionalcompleter

from arroyo_jupyter import session
from arroyo_jupyter.config import ConfigError, Settings, load_settings
from arroyo_jupyter.magics import ArroyoMagic


def test_pyproject_in_a_parent_wins_over_user_file(tmp_path):
    user = tmp_path / "home" / "config.toml"
    user.parent.mkdir()
    user.write_text('url = "http://user:1"\nrows = 7\n')
    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.arroyo_jupyter]\nurl = "http://proj:2"\nshort-errors = false\n'
    )
    settings = load_settings(start=project / "notebooks", user_config=user)
    assert settings.url == "http://proj:2"
    assert settings.rows == 7  # from the user file, not overridden
    assert settings.short_errors is False


def test_pyproject_without_our_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_settings(start=tmp_path, user_config=tmp_path / "none.toml") == Settings()


@pytest.mark.parametrize(
    "body, message",
    [
        ("[tool.arroyo_jupyter]\nrow = 3\n", "unknown setting 'row'"),
        ("[tool.arroyo_jupyter]\nrows = 'many'\n", "rows must be"),
        ("[tool.arroyo_jupyter]\nwidgets = 1\n", "widgets must be a bool"),
        ("[tool.arroyo_jupyter\n", "cannot read"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, body, message):
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_settings(start=tmp_path, user_config=tmp_path / "none.toml")


def test_magic_takes_defaults_from_the_project_file(tmp_path, monkeypatch, ipython):
    (tmp_path / "pyproject.toml").write_text('[tool.arroyo_jupyter]\nrows = 5\napi_key_env = "MY_KEY"\n')
    monkeypatch.chdir(tmp_path)
    magic = ArroyoMagic(shell=ipython)
    ipython.configurables.remove(magic)  # Magics.__init__ registered this extra instance
    assert magic.rows == 5 and magic.api_key_env == "MY_KEY"


def test_config_magic_lists_and_sets_settings(shell):
    listing = shell.run("%config ArroyoMagic").out
    for trait in ("url", "api_key_env", "rows", "refresh_interval", "preview_ttl", "short_errors", "widgets"):
        assert f"ArroyoMagic.{trait}" in listing
    shell.ok("%config ArroyoMagic.rows = 3")
    try:
        assert shell.ip._arroyo_magic.rows == 3
    finally:
        shell.ok("%config ArroyoMagic.rows = 20")


def test_api_key_is_never_shown(shell, monkeypatch, arroyo_server):
    monkeypatch.setenv("SECRET_ARROYO_KEY", "s3cr3t-value")
    shell.ok("%config ArroyoMagic.api_key_env = 'SECRET_ARROYO_KEY'")
    try:
        cell = shell.run(
            f"s = %arroyo connect {arroyo_server.url}\nprint(repr(s), s.client)\n%config ArroyoMagic"
        )
        assert cell.error is None
        assert "s3cr3t-value" not in cell.out + cell.err
        assert "SECRET_ARROYO_KEY" in cell.out
    finally:
        shell.ok("%config ArroyoMagic.api_key_env = ''")


def test_missing_api_key_variable_is_a_clear_error(shell, arroyo_server):
    cell = shell.run(f"%arroyo connect {arroyo_server.url} --api-key-env NOT_SET_ANYWHERE_XYZ")
    assert "NOT_SET_ANYWHERE_XYZ is not set" in cell.usage_error


def completions(ip, text):
    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(text, len(text))]


def test_completes_subcommands_flags_and_choices(ipython):
    assert {"stop", "start", "status"} <= set(completions(ipython, "%arroyo st"))
    assert completions(ipython, "%arroyo stop x --mo") == ["--mode"]
    assert set(completions(ipython, "%arroyo stop x --mode ")) == {
        "checkpoint",
        "graceful",
        "immediate",
        "force",
    }
    assert "--if-exists" in completions(ipython, "%%arroyo create --if")
    assert "Running" in completions(ipython, "%arroyo wait x --state R")


def test_completion_leaves_other_code_alone(ipython):
    ipython.user_ns["arroyo_like_var"] = 1
    assert "arroyo_like_var" in completions(ipython, "arroyo_li")


def test_completes_pipeline_names(connected, name):
    connected.ip.user_ns["_sql"] = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\nSELECT counter FROM impulse;"
    )
    session.current().client.create_pipeline(name, connected.ns["_sql"])
    try:
        session.current().names_cache.fetched_at = float("-inf")  # forget names fetched before
        assert name in completions(connected.ip, f"%arroyo errors {name[:4]}")
    finally:
        session.delete(name, stop=True)


def test_completion_survives_a_dead_server(shell, fresh_server):
    shell.ok(f"%arroyo connect {fresh_server.url}")
    fresh_server.stop()
    assert "--mode" in completions(shell.ip, "%arroyo stop ")  # flags still complete, nothing raises


def test_a_key_pasted_as_the_variable_name_is_not_echoed(shell, arroyo_server):
    message = shell.run(f"%arroyo connect {arroyo_server.url} --api-key-env sk_live_4f9a8b7c6d").usage_error
    assert "sk_live_4f9a8b7c6d" not in message and "named by --api-key-env" in message
