"""Make a Docker engine answer on this machine, so runtime images can be built and participant
code runs isolated: install Debian's ``docker.io`` (and ``mmdebstrap``) when missing, start
``dockerd``, wait until ``docker info`` answers.

    podium images engine            (or: python -m podium.worker.engine)

Idempotent: returns at once when the engine answers and the tools are there. A pid file or a
socket left behind by a dead dockerd is removed before a new one starts; a pid file naming a
zombie, or a pid the kernel has since given to another program, counts as left behind too.
A socket something still listens on is never removed.

Environment: ``PODIUM_DOCKER_WAIT`` (seconds, default 60), ``PODIUM_DOCKERD_LOG``,
``PODIUM_DOCKERD_PIDFILE``, ``PODIUM_DOCKERD_ARGS`` (extra dockerd arguments), ``DOCKER_HOST``
(the ``unix://`` socket to check).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .errors import EngineError
from .images import engine_answers

PROC = Path("/proc")
DEBIAN_PACKAGES = {"docker": "docker.io", "dockerd": "docker.io", "mmdebstrap": "mmdebstrap"}
DOCKER_INSTALL_DOCS = "https://docs.docker.com/engine/install/"


@dataclass
class EngineSettings:
    """Where dockerd logs and keeps its pid, how long to wait for it, and how to reach it."""

    log: Path = Path("/var/log/podium-dockerd.log")
    # dockerd's own default, so an engine someone else started with defaults counts as running
    pidfile: Path = Path("/var/run/docker.pid")
    wait: float = 60
    extra_args: list[str] = field(default_factory=list)
    socket: Path | None = Path("/var/run/docker.sock")

    @property
    def exec_root(self) -> Path:
        """dockerd's ``--exec-root`` (where its containerd keeps a pid file)."""
        root = Path("/var/run/docker")
        for i, arg in enumerate(self.extra_args):
            if arg.startswith("--exec-root="):
                root = Path(arg.split("=", 1)[1])
            elif arg == "--exec-root" and i + 1 < len(self.extra_args):
                root = Path(self.extra_args[i + 1])
        return root

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EngineSettings:
        settings = cls(extra_args=shlex.split(environ.get("PODIUM_DOCKERD_ARGS", "")))
        if environ.get("PODIUM_DOCKERD_LOG"):
            settings.log = Path(environ["PODIUM_DOCKERD_LOG"])
        if environ.get("PODIUM_DOCKERD_PIDFILE"):
            settings.pidfile = Path(environ["PODIUM_DOCKERD_PIDFILE"])
        if environ.get("PODIUM_DOCKER_WAIT"):
            settings.wait = float(environ["PODIUM_DOCKER_WAIT"])
        host = environ.get("DOCKER_HOST", "")
        if host.startswith("unix://"):
            settings.socket = Path(host[len("unix://"):])
        elif host:
            settings.socket = None  # a tcp:// engine: no socket file here to clean up
        return settings


# --- processes, read from /proc (``proc`` is a seam: tests pass a /proc-like folder) -------------


@dataclass(frozen=True)
class Process:
    """What /proc says about one pid: its state letter (``Z`` for a zombie) and program name."""

    pid: int
    state: str
    name: str

    @property
    def running(self) -> bool:
        """A zombie (or a dead task) is not running: PID 1 in a container may never reap it."""
        return self.state not in ("Z", "X")


def read_process(pid: int, proc: Path = PROC) -> Process | None:
    """The process ``pid`` as /proc shows it, or None when there is none."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ...": comm may hold spaces and parentheses, so split at the last ')'
    name_part, _, rest = stat.rpartition(")")
    fields = rest.split()
    if not fields:
        return None
    try:
        name = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        name = name_part.partition("(")[2]
    return Process(pid, fields[0], name)


def pid_alive(pid: int, proc: Path = PROC) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    if not proc.is_dir():  # no procfs: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    found = read_process(pid, proc)
    return found is not None and found.running


def read_pid(pidfile: Path) -> int | None:
    """The pid a pid file holds, or None when it is missing, empty or not a number."""
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def stale_pid_reason(pidfile: Path, program: str, proc: Path = PROC) -> str | None:
    """Why ``pidfile`` is left over from a dead ``program`` (None: no file, or it names a
    running ``program``)."""
    if not pidfile.exists():
        return None
    pid = read_pid(pidfile)
    if pid is None:
        return "it holds no pid"
    found = read_process(pid, proc)
    if found is None:
        return f"pid {pid} is not running"
    if not found.running:
        return f"pid {pid} is a zombie"
    if found.name != program:
        return f"pid {pid} is now '{found.name}', not {program}"
    return None


def running_pid(pidfile: Path, program: str, proc: Path = PROC) -> int | None:
    """The pid in ``pidfile`` if it is a running ``program``."""
    if not pidfile.exists() or stale_pid_reason(pidfile, program, proc) is not None:
        return None
    return read_pid(pidfile)


def processes_named(program: str, proc: Path = PROC) -> list[int]:
    """Running processes called ``program`` (what ``pgrep -x`` finds)."""
    found = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            process = read_process(int(entry.name), proc)
            if process is not None and process.running and process.name == program:
                found.append(process.pid)
    return found


def socket_is_stale(path: Path) -> bool:
    """Whether ``path`` is a Unix socket nothing listens on any more (a live one is never stale)."""
    if not path.is_socket():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except OSError:
        return False  # e.g. permission denied or busy: someone may still own it
    finally:
        probe.close()
    return False


def remove_stale_files(settings: EngineSettings, log: Callable[[str], None], proc: Path = PROC) -> list[Path]:
    """Remove the pid files and the socket a dead dockerd (and its containerd) left; the removed
    paths."""
    removed = []
    containerd_pidfile = settings.exec_root / "containerd" / "containerd.pid"
    # dockerd reuses the containerd a pid file names if that pid exists, even as a zombie, then times out
    for pidfile, program in ((settings.pidfile, "dockerd"), (containerd_pidfile, "containerd")):
        reason = stale_pid_reason(pidfile, program, proc)
        if reason is not None:
            log(f"removing stale {pidfile} ({reason})")
            pidfile.unlink(missing_ok=True)
            removed.append(pidfile)
    if settings.socket is not None and socket_is_stale(settings.socket):
        log(f"removing stale socket {settings.socket} (nothing answers on it)")
        settings.socket.unlink(missing_ok=True)
        removed.append(settings.socket)
    return removed


# --- installing and starting ----------------------------------------------------------------------


def missing_packages(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The Debian packages to install for the tools that are not on PATH."""
    missing = []
    for tool, package in DEBIAN_PACKAGES.items():
        if which(tool) is None and package not in missing:
            missing.append(package)
    if "mmdebstrap" in missing:
        missing.append("uidmap")  # for image builds as a user other than root
    return missing


def is_root() -> bool:
    return os.geteuid() == 0


def fix_command() -> str:
    """How to run this module again as root, spelled for the way it was installed."""
    podium = Path(sys.executable).parent / "podium"
    if podium.exists():
        return f"sudo {podium} images engine"
    return f"sudo {sys.executable} -m podium.worker.engine"


def apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise EngineError(f"`{' '.join(command)}` failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def server_version() -> str:
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "?"


class _Dockerd:
    """The dockerd this call started, and how to see that it died."""

    def __init__(self, settings: EngineSettings, log: Callable[[str], None], proc: Path) -> None:
        self.settings, self.log, self.proc = settings, log, proc
        self.started = False
        self.pid: int | None = None

    def start(self) -> None:
        remove_stale_files(self.settings, self.log, self.proc)
        settings = self.settings
        self.log(f"starting dockerd (log: {settings.log}, pid file: {settings.pidfile})")
        settings.log.parent.mkdir(parents=True, exist_ok=True)
        settings.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(settings.log, "a") as out:
            out.write(f"---- {datetime.now(UTC).isoformat(timespec='seconds')} started by podium images engine\n")
            out.flush()
            # a session of its own: the engine outlives this command and the CI step that ran it
            process = subprocess.Popen(
                ["dockerd", "--pidfile", str(settings.pidfile), *settings.extra_args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid, self.started = process.pid, True

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.settings.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def ensure_engine(settings: EngineSettings | None = None, log: Callable[[str], None] = print,
                  proc: Path = PROC, root: bool | None = None) -> None:
    """Make the Docker engine answer (installing and starting it when needed), or raise
    ``EngineError`` saying why it cannot and what fixes it. ``root``: whether this process may
    install and start things (default: whether it runs as root)."""
    settings = settings or EngineSettings.from_env()
    root = is_root() if root is None else root
    say = lambda text: log(f"==> engine: {text}")  # noqa: E731
    missing = missing_packages()
    if engine_answers() and not missing:
        say(f"the Docker engine answers (server {server_version()})")
        return
    if missing:
        if not root:
            if engine_answers():
                say(f"the Docker engine answers, but {' '.join(missing)} (to build images) is missing: "
                    f"run `{fix_command()}`")
                return
            raise EngineError(f"the Docker engine does not answer and only root can install "
                              f"{' '.join(missing)}", fix_command())
        if shutil.which("apt-get") is None:
            raise EngineError(f"the Docker engine does not answer and this is not a Debian system (no apt-get) "
                              f"to install {' '.join(missing)} from", f"install Docker Engine ({DOCKER_INSTALL_DOCS})")
        say(f"installing {' '.join(missing)} from Debian")
        apt_install(missing)
        if engine_answers():  # the package's own service may have started the engine
            say(f"the Docker engine answers (server {server_version()})")
            return
    if not root:
        raise EngineError("the Docker engine does not answer and only root can start it", fix_command())
    if not settings.extra_args and Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        say("starting the docker service with systemctl")
        if subprocess.run(["systemctl", "start", "docker"], capture_output=True).returncode != 0:
            say("systemctl start docker failed; starting dockerd by hand")
    wait_for_engine(settings, say, proc)


def wait_for_engine(settings: EngineSettings, say: Callable[[str], None], proc: Path = PROC) -> None:
    """Start dockerd unless one is running or starting, then wait until the engine answers."""
    dockerd = _Dockerd(settings, say, proc)
    dockerd.pid = running_pid(settings.pidfile, "dockerd", proc)
    if dockerd.pid is not None:
        say(f"dockerd (pid {dockerd.pid}) is running but does not answer yet; waiting")
    elif engine_answers():
        pass
    elif processes_named("dockerd", proc):
        # a dockerd with another pid file, maybe still starting: wait for it rather than race it
        say(f"a dockerd process exists (not the one in {settings.pidfile}); waiting for it to answer")
    else:
        dockerd.start()
    started = time.monotonic()
    while time.monotonic() - started < settings.wait:
        if engine_answers():
            say(f"the Docker engine answers after {time.monotonic() - started:.0f} s (server {server_version()})")
            return
        if dockerd.pid is not None and not pid_alive(dockerd.pid, proc) \
                and running_pid(settings.pidfile, "dockerd", proc) is None:
            if dockerd.started:
                raise EngineError(f"dockerd exited; last lines of {settings.log}:\n{dockerd.log_tail()}")
            say(f"dockerd (pid {dockerd.pid}) went away while starting")
            dockerd.start()
        time.sleep(1)
    raise EngineError(f"the Docker engine did not answer within {settings.wait:.0f} s; last lines of "
                      f"{settings.log}:\n{dockerd.log_tail()}")


def main(argv: list[str] | None = None) -> int:
    """``podium images engine``: make the Docker engine answer, or say why not."""
    import argparse

    parser = argparse.ArgumentParser(prog="podium images engine", description=__doc__.split("\n\n")[0])
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        ensure_engine()
    except EngineError as e:
        print(f"podium images engine: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
