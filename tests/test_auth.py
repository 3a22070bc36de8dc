"""Authentication: every route behind it, Basic and Bearer, no secret in the logs, guessing does not lock out users."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
import requests

from momoshtrem.auth import COOLDOWN_SECONDS, FAILURES_BEFORE_COOLDOWN, hash_secret, parse_users, verify_secret
from momoshtrem.config import ConfigError, load_config
from momoshtrem.server import open_to_the_network
from tests.helpers import RunningServer

PASSWORD = "correct horse battery staple"
TOKEN = "t0ken-for-scripts-4f1c"
BOB_PASSWORD = "bob's own password"
DAV_METHODS = ("OPTIONS", "PROPFIND", "HEAD", "GET", "PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH",
               "LOCK", "UNLOCK", "POST")
API_ROUTES = (("GET", "/api/health"), ("GET", "/api/movies"), ("POST", "/api/movies"), ("GET", "/api/shows"),
              ("GET", "/api/torrents"), ("GET", "/api/movies/1"), ("DELETE", "/api/movies/1"),
              ("POST", "/api/movies/1/assign"))


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"alice": hash_secret(PASSWORD), "bob": hash_secret(BOB_PASSWORD), "token": hash_secret(TOKEN)}


@pytest.fixture
def guarded(config, hashes, caplog):
    caplog.set_level(logging.DEBUG)
    config.server.auth = [f"alice:{hashes['alice']}", f"bob:{hashes['bob']}"]
    config.server.api_token = hashes["token"]
    running = RunningServer(config)
    yield running
    running.stop()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_hashes_verify_only_their_secret():
    encoded = hash_secret("s3cret")
    assert encoded.startswith("scrypt$") and "s3cret" not in encoded
    assert verify_secret("s3cret", encoded)
    assert not verify_secret("s3cret ", encoded) and not verify_secret("", encoded)
    assert not verify_secret("s3cret", "scrypt$broken") and not verify_secret("s3cret", "plain")
    assert hash_secret("s3cret") != encoded  # salted


def test_config_refuses_a_plain_password_and_names_the_key(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  auth: ['alice:hunter2']\n")
    with pytest.raises(ConfigError, match=r"server\.auth.*alice") as error:
        load_config(path, environ={})
    assert "hunter2" not in str(error.value)
    with pytest.raises(ConfigError, match="api_token"):
        load_config(None, environ={"MOMOSHTREM_SERVER_API_TOKEN": "raw-token"})
    assert parse_users(["bob:" + hash_secret("x")]).keys() == {"bob"}


def test_every_route_needs_credentials(guarded):
    for method in DAV_METHODS:
        response = requests.request(method, guarded.url + "/Movies", headers={"Depth": "1"}, timeout=30)
        assert response.status_code == 401, method
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    for method, path in API_ROUTES:
        assert requests.request(method, guarded.url + path, timeout=30).status_code == 401, path
    for path in ("/", "/api", "/ui/", "/metrics", "/.DS_Store", "/../etc/passwd"):
        assert requests.get(guarded.url + path, timeout=30).status_code == 401, path


def test_basic_and_bearer_credentials_work_and_wrong_ones_do_not(guarded):
    alice = basic("alice", PASSWORD)
    assert requests.request("PROPFIND", guarded.url + "/", headers={"Depth": "1", **alice}, timeout=30).status_code == 207
    assert requests.get(guarded.url + "/api/movies", headers=alice, timeout=30).status_code == 200
    created = requests.post(guarded.url + "/api/movies", json={"title": "Heat", "year": 1995},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert created.status_code == 201
    assert requests.request("PROPFIND", guarded.url + quote("/Movies"), headers={"Depth": "1", **alice},
                            timeout=30).status_code == 207
    assert requests.get(guarded.url + "/ui/", headers=alice, timeout=30).status_code == 200
    scraped = requests.get(guarded.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert scraped.status_code == 200 and "momoshtrem_http_requests_total" in scraped.text
    for wrong in (basic("alice", "wrong"), basic("mallory", PASSWORD), basic("alice", PASSWORD + " "),
                  {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!notbase64"},
                  {"Authorization": "Digest username=alice"}):
        assert requests.get(guarded.url + "/api/movies", headers=wrong, timeout=30).status_code == 401, wrong


def test_secrets_never_reach_the_logs_or_the_api(guarded, caplog, hashes):
    requests.get(guarded.url + "/api/movies", headers=basic("alice", PASSWORD), timeout=30)
    requests.get(guarded.url + "/api/movies", headers=basic("alice", "Wr0ngPassw0rd!"), timeout=30)
    requests.get(guarded.url + "/api/movies", headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=30)
    health = requests.get(guarded.url + "/api/health", headers=basic("alice", PASSWORD), timeout=30)
    assert health.status_code == 200
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "authentication failed for 'alice'" in logged
    for secret in (PASSWORD, "Wr0ngPassw0rd!", TOKEN, hashes["alice"], base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in logged
        assert secret not in health.text


def test_password_guessing_is_cut_off_and_does_not_lock_out_a_signed_in_user(guarded):
    alice = basic("alice", PASSWORD)
    assert requests.get(guarded.url + "/api/movies", headers=alice, timeout=30).status_code == 200  # signed in
    before = guarded.server.auth.verifications
    statuses: list[int] = []

    def guess(n: int) -> None:
        with requests.Session() as attacker:
            for i in range(25):
                statuses.append(attacker.get(guarded.url + "/api/movies", headers=basic("alice", f"guess{n}-{i}"),
                                             timeout=60).status_code)

    guessers = [threading.Thread(target=guess, args=(n,)) for n in range(4)]
    for thread in guessers:
        thread.start()
    alice_statuses = [requests.get(guarded.url + "/api/movies", headers=alice, timeout=60).status_code
                      for _ in range(20)]
    for thread in guessers:
        thread.join(timeout=120)
    assert statuses == [401] * 100
    assert alice_statuses == [200] * 20
    # At most the first few guesses were hashed; the rest were refused during the cooldown.
    assert guarded.server.auth.verifications - before <= FAILURES_BEFORE_COOLDOWN
    assert COOLDOWN_SECONDS >= 30


def test_guessing_one_users_password_never_refuses_another_users_correct_one(guarded):
    for i in range(3 * FAILURES_BEFORE_COOLDOWN):
        assert requests.get(guarded.url + "/api/movies", headers=basic("alice", f"guess{i}"),
                            timeout=30).status_code == 401
    # bob was never seen before, from the same address, while alice's name cools down.
    assert requests.get(guarded.url + "/api/movies", headers=basic("bob", BOB_PASSWORD), timeout=30).status_code == 200
    assert requests.get(guarded.url + "/api/movies", headers=basic("alice", PASSWORD), timeout=30).status_code == 401


def test_a_parallel_flood_of_guesses_is_hashed_no_more_often_than_a_sequential_one(guarded):
    before = guarded.server.auth.verifications
    barrier = threading.Barrier(30)
    statuses: list[int] = []

    def guess(n: int) -> None:
        barrier.wait(30)
        statuses.append(requests.get(guarded.url + "/api/movies", headers=basic("alice", f"flood{n}"),
                                     timeout=120).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert statuses == [401] * 30
    assert guarded.server.auth.verifications - before == FAILURES_BEFORE_COOLDOWN


def test_a_user_name_cannot_forge_log_lines(guarded, caplog):
    forged = "mallory\n2026-12-01 INFO momoshtrem.auth: authentication ok for 'admin'"
    requests.get(guarded.url + "/api/movies", headers=basic(forged, "x"), timeout=30)
    failures = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert failures and all("\n" not in message for message in failures)
    assert any("mallory\\n2026" in message for message in failures)


def test_hash_password_command_reads_stdin_and_prints_a_verifiable_hash():
    result = subprocess.run([sys.executable, "-m", "momoshtrem", "hash-password"], input="from stdin\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert verify_secret("from stdin", result.stdout.strip())
    assert "from stdin" not in result.stdout


def test_no_auth_beyond_loopback_is_flagged():
    """The server warns at start in exactly these cases (tests never bind beyond 127.0.0.1)."""
    assert open_to_the_network("0.0.0.0", auth_enabled=False)
    assert open_to_the_network("192.168.1.10", auth_enabled=False)
    assert open_to_the_network("nas.local", auth_enabled=False)
    assert not open_to_the_network("0.0.0.0", auth_enabled=True)
    assert not open_to_the_network("127.0.0.1", auth_enabled=False)
    assert not open_to_the_network("::1", auth_enabled=False)
    assert not open_to_the_network("localhost", auth_enabled=False)
