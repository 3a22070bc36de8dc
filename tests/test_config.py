"""Config: defaults <- file <- environment, and clear failures naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from momoshtrem.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_defaults_need_nothing_external():
    config = load_config(None, environ={})
    assert config.server.port == 4444
    assert config.library.database.startswith("./data/")
    assert config.torrent.data_dir.startswith("./data/")
    assert config.tmdb.api_key == ""


def test_shipped_config_yaml_loads_and_equals_the_defaults():
    """config.yaml documents every key with its default: loading it changes nothing."""
    assert load_config(REPO / "config.yaml", environ={}) == load_config(None, environ={})


def test_shipped_config_yaml_names_every_key():
    text = (REPO / "config.yaml").read_text()
    config = load_config(None, environ={})
    for section, values in vars(config).items():
        assert f"\n{section}:" in "\n" + text
        for key in vars(values):
            assert f"  {key}:" in text, f"{section}.{key} is not documented in config.yaml"


def test_file_then_environment_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 5000\n  threads: 8\ntmdb:\n  api_key: fromfile\n")
    env = {"MOMOSHTREM_SERVER_PORT": "6000", "MOMOSHTREM_TMDB_API_KEY": "123456", "MOMOSHTREM_URL": "http://x"}
    config = load_config(path, environ=env)
    assert config.server.port == 6000  # environment wins over the file
    assert config.server.threads == 8  # the file wins over the default
    assert config.tmdb.api_key == "123456"  # a digits-only key stays a string
    assert config.tmdb.timeout == 10.0


@pytest.mark.parametrize(
    "text,message",
    [
        ("server:\n  prot: 1\n", "server.prot"),
        ("sever:\n  port: 1\n", "sever"),
        ("server:\n  port: eighty\n", "server.port"),
        ("server:\n  port: 70000\n", "server.port"),
        ("server:\n  threads: true\n", "server.threads"),
        ("logging:\n  level: loud\n", "logging.level"),
        ("server: [1, 2]\n", "server"),
        ("- just\n- a list\n", "top level"),
        ("server:\n  port: [\n", "not valid YAML"),
    ],
)
def test_bad_file_fails_naming_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(path, environ={})


@pytest.mark.parametrize(
    "env,message",
    [
        ({"MOMOSHTREM_SERVER_PROT": "1"}, "server.prot"),
        ({"MOMOSHTREM_NOPE_PORT": "1"}, "nope"),
        ({"MOMOSHTREM_SERVER_PORT": "abc"}, "server.port"),
    ],
)
def test_bad_environment_fails_naming_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ=env)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_indexers_from_the_file_and_from_the_environment(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("search:\n  indexers:\n    - name: jackett\n      url: http://127.0.0.1:9117/api\n"
                    "      api_key: s3cret\n  preferred_resolution: 720p\n")
    config = load_config(path, environ={})
    assert [(i.name, i.url, i.api_key) for i in config.search.indexers] == [
        ("jackett", "http://127.0.0.1:9117/api", "s3cret")]
    assert config.search.preferred_resolution == "720p"
    from_env = load_config(None, environ={
        "MOMOSHTREM_SEARCH_INDEXERS": '[{name: prowlarr, url: "http://127.0.0.1:9696/1/api", api_key: k}]'})
    assert from_env.search.indexers[0].name == "prowlarr"


@pytest.mark.parametrize("indexers, message", [
    ('[{name: a, url: "ftp://x/api", api_key: s3cret}]', "search.indexers[0].url"),
    ('[{name: a, url: "http://x/api"}, {name: a, url: "http://y/api"}]', "search.indexers[1].name"),
    ('[{name: a, url: "http://x/api", apikey: s3cret}]', "unknown key 'apikey'"),
    ('["http://x/api"]', "expected a mapping"),
])
def test_bad_indexers_fail_naming_the_key_and_never_the_secret(indexers, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as failure:
        load_config(None, environ={"MOMOSHTREM_SEARCH_INDEXERS": indexers})
    assert "s3cret" not in str(failure.value)
