"""A real OpenSSH server on the loopback address, for the SSH-remote test: its own host key, one client key, the
current user, SFTP (what dvc-ssh speaks); stopped when the block ends. `make setup` installs Debian's
openssh-server when it is missing and it runs as root."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class SshServer:
    user: str
    port: int
    keyfile: Path
    home: Path  # a HOME whose ~/.ssh/known_hosts holds this server's host key: clients verify it

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1{path}"

    def dvc_remote(self, name: str, path: Path) -> list[list[str]]:
        """The dvc commands that make ``name`` this server's remote (``--local``: a clone sets its own)."""
        return [["dvc", "remote", "add", "-f", "-d", name, self.url(path)],
                ["dvc", "remote", "modify", "--local", name, "port", str(self.port)],
                ["dvc", "remote", "modify", "--local", name, "keyfile", str(self.keyfile)]]


def unavailable() -> str | None:
    """Why no server can run here, or None."""
    if not os.path.exists(SSHD):
        return "sshd not installed (`make setup` installs Debian's openssh-server when run as root)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen not installed"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def ssh_server(root: Path) -> Iterator[SshServer]:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    port = _free_port()
    (root / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", f"PidFile {root / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR"]) + "\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation directory sshd insists on
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = (root / "host_key.pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"sshd exited with {server.returncode}: {server.stderr.read()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("sshd did not listen within 20 s")
            time.sleep(0.1)
        yield SshServer(getpass.getuser(), port, root / "client_key", home)
    finally:
        server.terminate()
        server.wait(timeout=20)
