"""docker-compose.yml and the Dockerfile, checked against the config defaults; the healthcheck run for real.

No container engine runs on these machines: nothing here builds an image.
What runs is the healthcheck's own command, against a real server.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from momoshtrem.auth import hash_secret
from momoshtrem.config import Config, load_config
from tests.helpers import RunningServer

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = Config()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def instruction(name: str) -> list[str]:
    return [arguments for kind, arguments in dockerfile_instructions() if kind == name]


@pytest.fixture(scope="module")
def service() -> dict:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert list(compose["services"]) == ["momoshtrem"]  # one service
    return compose["services"]["momoshtrem"]


def torrent_port() -> int:
    return int(DEFAULTS.torrent.listen_interfaces.split(",")[0].rsplit(":", 1)[1])


def test_the_service_runs_momoshtrem_serve_with_the_mounted_config(service):
    entrypoint = json.loads(instruction("ENTRYPOINT")[-1])
    command = json.loads(instruction("CMD")[-1])
    assert entrypoint == ["momoshtrem"] and service["command"] == command
    assert command[0] == "serve" and command[1] == "-c"
    config_path = command[2]
    mounts = {volume.split(":")[1]: volume for volume in service["volumes"]}
    assert mounts[config_path] == f"./config.yaml:{config_path}:ro"  # the repository's config, read-only
    assert (REPO / "config.yaml").is_file()


def test_the_ports_published_are_the_configured_ones(service):
    web, peers = DEFAULTS.server.port, torrent_port()
    assert {f"{web}:{web}", f"{peers}:{peers}/tcp", f"{peers}:{peers}/udp"} == set(service["ports"])
    assert set(instruction("EXPOSE")[-1].split()) == {str(web), f"{peers}/tcp", f"{peers}/udp"}


def test_the_library_and_the_data_live_in_the_volume_and_the_config_loads_as_the_container_would(service):
    data_mount = next(v for v in service["volumes"] if not v.startswith("./"))
    volume_name, data_dir = data_mount.split(":")[:2]
    assert volume_name in yaml.safe_load((REPO / "docker-compose.yml").read_text())["volumes"]
    assert json.loads(instruction("VOLUME")[-1]) == [data_dir]
    image_env = dict(pair.split("=", 1) for env in instruction("ENV") for pair in shlex.split(env))
    environment = {**image_env, **{k: str(v) for k, v in service["environment"].items()}}
    config = load_config(REPO / "config.yaml", environ=environment)
    # Every path the server writes (the image's user cannot write its working directory, and a container's
    # files outside the volume are lost when it is recreated).
    written = {"library.database": config.library.database, "library.probe_store_dir": config.library.probe_store_dir,
               "torrent.data_dir": config.torrent.data_dir, "subtitles.dir": config.subtitles.dir,
               "tmdb.poster_dir": config.tmdb.poster_dir}
    assert {key: path for key, path in written.items() if not path.startswith(data_dir + "/")} == {}
    assert config.server.host == "0.0.0.0"  # reachable through the published port
    assert config.server.port == DEFAULTS.server.port


def test_the_image_runs_as_a_user_that_owns_the_data_volume():
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0")
    kinds = [kind for kind, _ in dockerfile_instructions()]
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN")  # nothing runs as root after
    run = " ".join(instruction("RUN"))
    assert "useradd" in run and users[-1] in run and f"chown {users[-1]} /data" in run


def health_command(service: dict, port: int) -> list[str]:
    """The compose healthcheck's command, aimed at `port` and run by this Python."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    dockerfile_check = json.loads(instruction("HEALTHCHECK")[-1].split("CMD", 1)[1])
    assert dockerfile_check == test[1:]  # the image and the compose file check alike
    code = test[-1]
    assert f"'127.0.0.1', {DEFAULTS.server.port}" in code and "'/api/health'" in code
    return [sys.executable, *test[2:-1], code.replace(str(DEFAULTS.server.port), str(port))]


def test_the_healthcheck_passes_against_a_real_server_and_fails_without_one(service, config):
    running = RunningServer(config)
    try:
        port = running.server.port
        assert subprocess.run(health_command(service, port), timeout=30).returncode == 0
    finally:
        running.stop()
    assert subprocess.run(health_command(service, port), capture_output=True, timeout=30).returncode != 0


def test_the_healthcheck_passes_when_auth_is_on(service, config):
    config.server.auth = [f"alice:{hash_secret('pw')}"]
    running = RunningServer(config)
    try:
        assert subprocess.run(health_command(service, running.server.port), timeout=30).returncode == 0
    finally:
        running.stop()
