"""How the app is served (ui/serve.py, server.serve): local by default, private files kept private."""

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.errors import ConfigError
from atlas_qa.ui import launch_options


def test_launch_options_listen_locally_and_keep_private_files_private(tmp_path):
    settings = Settings(index_dir=tmp_path / "index", corpus=tmp_path / "corpus")
    options = launch_options(settings)
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7860
    assert options["share"] is False and options["allowed_paths"] == [] and options["mcp_server"] is False
    assert set(options["blocked_paths"]) == {str((tmp_path / "index").resolve()), str((tmp_path / "corpus").resolve())}


def test_the_shared_login_setting_is_refused_with_what_replaces_it(hash_settings):
    from atlas_qa import server

    with pytest.raises(ConfigError, match="atlas-qa users add"):
        server.serve(hash_settings, env={"ATLAS_QA_AUTH": "prof:pw"})


def test_without_users_the_app_serves_only_this_machine_and_says_so(monkeypatch, corpus, hash_settings, capsys):
    import uvicorn

    from atlas_qa import server

    with pytest.raises(ConfigError, match="127.0.0.1 only"):
        server.serve(hash_settings.with_(corpus=corpus, host="0.0.0.0"), env={})
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw, app=app))
    settings = hash_settings.with_(corpus=corpus, port=7999)
    server.serve(settings, env={})
    assert served["port"] == 7999 and served["host"] == "127.0.0.1" and served["proxy_headers"] is False
    assert "No users configured: serving one person at http://127.0.0.1:7999" in capsys.readouterr().out
    assert Atlas(settings).index.count() > 0
