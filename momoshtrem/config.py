"""Configuration: embedded defaults <- config.yaml <- MOMOSHTREM_<SECTION>_<KEY> environment.

Every setting lives in a typed dataclass field, so the defaults, the validation
and the list of known keys come from one place. A typo in a key or a wrong type
fails at start, naming the key, instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from momoshtrem.auth import parse_users
from momoshtrem.subtitles.languages import is_language_code

ENV_PREFIX = "MOMOSHTREM_"
# Environment variables with the prefix that are not settings of the server.
ENV_NOT_SETTINGS = {"MOMOSHTREM_URL"}


# Public trackers for magnets and bare info-hashes that name none; tests replace them with a local one.
DEFAULT_TRACKERS = (
    "udp://tracker.opentrackr.org:1337/announce",
    "udp://open.demonii.com:1337/announce",
    "udp://tracker.openbittorrent.com:6969/announce",
    "udp://exodus.desync.com:6969/announce",
)


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type or out of range."""


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 4444
    threads: int = 64
    socket_timeout: int = 300
    header_timeout: int = 10
    block_size: int = 262144
    max_upload_bytes: int = 20 * 1024 * 1024
    auth: list[str] = field(default_factory=list)  # "name:scrypt$..." from `momoshtrem hash-password`
    api_token: str = ""  # scrypt hash of a token for `Authorization: Bearer`
    allowed_hosts: list[str] = field(default_factory=list)  # host names besides IPs and localhost, when auth is off


@dataclass
class LibraryConfig:
    database: str = "./data/library.db"
    probe_store_dir: str = "./data/probes"
    probe_store_size: int = 2 * 1024**3  # 0: no probe store


@dataclass
class TorrentConfig:
    data_dir: str = "./data/torrents"
    storage: str = "disk"
    memory_dir: str = "/dev/shm/momoshtrem"
    cache_size: int = 10 * 1024**3
    listen_interfaces: str = "0.0.0.0:6881,[::]:6881"
    enable_dht: bool = True
    enable_lsd: bool = True
    enable_upnp: bool = True
    enable_natpmp: bool = True
    enable_utp: bool = True
    connections_limit: int = 200
    download_rate_limit: int = 0
    upload_rate_limit: int = 0
    tick_interval: int = 100
    default_trackers: list[str] = field(default_factory=lambda: list(DEFAULT_TRACKERS))
    metadata_timeout: float = 60.0
    read_timeout: float = 120.0
    idle_timeout: float = 300.0


@dataclass
class StreamingConfig:
    prioritize: bool = True
    header_priority_bytes: int = 10 * 1024 * 1024
    footer_priority_bytes: int = 5 * 1024 * 1024
    urgent_buffer_bytes: int = 2 * 1024 * 1024
    readahead_bytes: int = 16 * 1024 * 1024
    readahead_seconds: float = 30.0
    probe_seconds: float = 3.0


@dataclass
class TmdbConfig:
    api_key: str = ""
    base_url: str = "https://api.themoviedb.org/3"
    language: str = "en-US"
    timeout: float = 10.0
    image_base_url: str = "https://image.tmdb.org/t/p"
    poster_dir: str = "./data/posters"


@dataclass
class SubtitlesConfig:
    dir: str = "./data/subtitles"
    auto_languages: list[str] = field(default_factory=list)  # ISO 639-1 codes


@dataclass
class OpenSubtitlesConfig:
    api_key: str = ""
    base_url: str = "https://api.opensubtitles.com/api/v1"
    username: str = ""
    password: str = ""
    timeout: float = 15.0


@dataclass
class IndexerConfig:
    """One Torznab endpoint: Jackett's .../api/v2.0/indexers/all/results/torznab/api, Prowlarr's .../{id}/api."""

    name: str = ""
    url: str = ""
    api_key: str = ""


@dataclass
class SearchConfig:
    indexers: list[IndexerConfig] = field(default_factory=list)
    timeout: float = 15.0
    preferred_resolution: str = "1080p"


@dataclass
class LoggingConfig:
    level: str = "info"


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    library: LibraryConfig = field(default_factory=LibraryConfig)
    torrent: TorrentConfig = field(default_factory=TorrentConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    tmdb: TmdbConfig = field(default_factory=TmdbConfig)
    subtitles: SubtitlesConfig = field(default_factory=SubtitlesConfig)
    opensubtitles: OpenSubtitlesConfig = field(default_factory=OpenSubtitlesConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


_LOG_LEVELS = {"debug", "info", "warning", "error"}


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration; raise ConfigError naming the bad key."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    environ = os.environ if environ is None else environ
    config = Config()
    for section_name, section_values in raw.items():
        section = _section(config, section_name, where=str(path))
        if section_values is None:
            continue
        if not isinstance(section_values, dict):
            raise ConfigError(f"{section_name}: expected a mapping of keys, got {section_values!r}")
        for key, value in section_values.items():
            _assign(section, section_name, str(key), value, from_env=False)
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        section_name, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        section = _section(config, section_name, where=f"environment variable {name}")
        _assign(section, section_name, key, value, from_env=True, env_name=name)
    _check_ranges(config)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of sections")
    return data


def _section(config: Config, name: str, where: str) -> Any:
    known = {f.name for f in dataclasses.fields(config)}
    if name not in known:
        raise ConfigError(f"unknown config section '{name}' ({where}); known: {', '.join(sorted(known))}")
    return getattr(config, name)


def _assign(section: Any, section_name: str, key: str, value: Any, *, from_env: bool, env_name: str = "") -> None:
    fields = {f.name: f for f in dataclasses.fields(section)}
    full_key = f"{section_name}.{key}"
    if key not in fields:
        origin = f" (from {env_name})" if env_name else ""
        raise ConfigError(f"unknown config key '{full_key}'{origin}; known in '{section_name}': {', '.join(sorted(fields))}")
    expected = typing.get_type_hints(type(section))[key]
    if from_env:
        value = _parse_env_value(value, expected)
    setattr(section, key, _coerce(full_key, value, expected))


def _parse_env_value(text: str, expected: Any) -> Any:
    """Environment values are strings; a str setting keeps them verbatim (an API key of digits stays a string)."""
    if expected is str:
        return text
    if typing.get_origin(expected) is list and not text.lstrip().startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _coerce(full_key: str, value: Any, expected: Any) -> Any:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        expected = next(o for o in options if o is not type(None))
        origin = typing.get_origin(expected)
    if dataclasses.is_dataclass(expected):
        return _coerce_record(full_key, value, expected)
    if origin is list:
        (item_type,) = typing.get_args(expected)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{full_key}': expected a list, got {value!r}")
        return [_coerce(f"{full_key}[{i}]", v, item_type) for i, v in enumerate(value)]
    if expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif expected is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"config key '{full_key}': expected {expected.__name__}, got {value!r}")


def _coerce_record(full_key: str, value: Any, expected: type) -> Any:
    """A mapping in a list (an indexer) into its dataclass; values are not echoed, they may be keys."""
    if not isinstance(value, dict):
        raise ConfigError(f"config key '{full_key}': expected a mapping with keys "
                          f"{', '.join(f.name for f in dataclasses.fields(expected))}")
    hints = typing.get_type_hints(expected)
    unknown = sorted(set(map(str, value)) - set(hints))
    if unknown:
        raise ConfigError(f"config key '{full_key}': unknown key '{unknown[0]}'; known: {', '.join(sorted(hints))}")
    return expected(**{key: _coerce(f"{full_key}.{key}", item, hints[key]) for key, item in value.items()})


def _check_search(search: SearchConfig) -> None:
    names = [indexer.name for indexer in search.indexers]
    for n, indexer in enumerate(search.indexers):
        if not indexer.name.strip() or indexer.name in names[:n]:
            raise ConfigError(f"config key 'search.indexers[{n}].name': each indexer needs a name of its own")
        if not indexer.url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"config key 'search.indexers[{n}].url': the indexer's Torznab URL (http or https)")
    if search.timeout <= 0:
        raise ConfigError("config key 'search.timeout': must be positive")
    if search.preferred_resolution not in ("480p", "720p", "1080p", "2160p"):
        raise ConfigError("config key 'search.preferred_resolution': one of 480p, 720p, 1080p, 2160p")


def _check_ranges(config: Config) -> None:
    if not 0 <= config.server.port <= 65535:
        raise ConfigError(f"config key 'server.port': {config.server.port} is not a TCP port")
    for key in ("threads", "socket_timeout", "header_timeout", "block_size", "max_upload_bytes"):
        if getattr(config.server, key) <= 0:
            raise ConfigError(f"config key 'server.{key}': must be positive")
    try:
        parse_users(config.server.auth)
    except ValueError as exc:
        raise ConfigError(f"config key 'server.auth': {exc}") from None
    if config.server.api_token and not config.server.api_token.startswith("scrypt$"):
        raise ConfigError("config key 'server.api_token': the token's hash ('scrypt$...', from "
                          "`momoshtrem hash-password`), never the token itself")
    if config.logging.level.lower() not in _LOG_LEVELS:
        raise ConfigError(f"config key 'logging.level': one of {', '.join(sorted(_LOG_LEVELS))}")
    if config.torrent.storage not in ("disk", "memory"):
        raise ConfigError("config key 'torrent.storage': 'disk' or 'memory'")
    for key in ("metadata_timeout", "read_timeout", "idle_timeout", "tick_interval", "connections_limit"):
        if getattr(config.torrent, key) <= 0:
            raise ConfigError(f"config key 'torrent.{key}': must be positive")
    for key in ("cache_size", "download_rate_limit", "upload_rate_limit"):
        if getattr(config.torrent, key) < 0:
            raise ConfigError(f"config key 'torrent.{key}': must not be negative (0 means no limit)")
    if config.library.probe_store_size < 0:
        raise ConfigError("config key 'library.probe_store_size': must not be negative (0 turns the store off)")
    for key in ("header_priority_bytes", "footer_priority_bytes", "urgent_buffer_bytes", "readahead_bytes"):
        if getattr(config.streaming, key) < 0:
            raise ConfigError(f"config key 'streaming.{key}': must not be negative")
    if config.streaming.readahead_seconds < 0 or config.streaming.probe_seconds < 0:
        raise ConfigError("config keys 'streaming.readahead_seconds' and 'streaming.probe_seconds': must not be negative")
    if config.tmdb.timeout <= 0:
        raise ConfigError("config key 'tmdb.timeout': must be positive")
    if config.opensubtitles.timeout <= 0:
        raise ConfigError("config key 'opensubtitles.timeout': must be positive")
    if bool(config.opensubtitles.username) != bool(config.opensubtitles.password):
        raise ConfigError("config keys 'opensubtitles.username' and 'opensubtitles.password': give both or neither")
    _check_search(config.search)
    for code in config.subtitles.auto_languages:
        if not is_language_code(code):
            raise ConfigError(f"config key 'subtitles.auto_languages': '{code}' is not an ISO 639-1 language code")
