"""`momoshtrem serve` as users run it, for the benchmarks: the shipped config.yaml in a fresh directory, with only
what keeps it on loopback changed (listen addresses, DHT, LSD, UPnP, NAT-PMP, public trackers).

Tests may also turn uTP off (tests/helpers.py); benchmarks may not, so that one switch is left out here.
`source` runs another checkout's server (PYTHONPATH), for a baseline measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import LOOPBACK_ENV as TEST_LOOPBACK_ENV, free_port, healthy, wait_until

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_ENV = {name: value for name, value in TEST_LOOPBACK_ENV.items()
                if name != "MOMOSHTREM_TORRENT_ENABLE_UTP"}


class ShippedServer:
    def __init__(self, work: Path, source: Path, env: dict[str, str] | None = None) -> None:
        shutil.copy(ROOT / "config.yaml", work / "config.yaml")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **LOOPBACK_ENV, **(env or {}), "MOMOSHTREM_SERVER_PORT": str(port),
                    "PYTHONPATH": str(source)}
        self.log_path = work / "serve.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "momoshtrem", "serve"], cwd=work, env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(lambda: healthy(self.url) or self.process.poll() is not None, 120, "the server to answer")
        assert self.process.poll() is None, self.log_path.read_text()

    def memory_kib(self, field: str) -> int:
        """VmRSS or VmHWM of the server process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
