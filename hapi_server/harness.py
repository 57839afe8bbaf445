"""Build, start and stop the local HAPI FHIR JPA server (R4, embedded H2).

Python standard library plus ``requests``; no project imports, so it can be loaded
by path from tests, the demo or a shell.

    from hapi_server.harness import HapiServer

    with HapiServer() as base_url:          # e.g. http://127.0.0.1:41234/fhir
        requests.get(f"{base_url}/metadata")

Command line:

    python hapi_server/harness.py build [--force]
    python hapi_server/harness.py run [--port N] [--data-dir DIR]

The jar is built once with Maven and reused until ``pom.xml`` or a file under ``src/``
is newer than it. The server listens on 127.0.0.1 only. Without ``data_dir`` the
database lives in memory and is gone when the server stops.

For fault tests, a started ``HapiServer`` can be frozen and thawed (SIGSTOP/SIGCONT,
``freeze()``/``thaw()``/``with server.frozen():``), killed with SIGKILL (``kill()``) and
started again on the same data directory and port (``restart()``); ``faults.py`` next to
this file has a loopback HTTP proxy that injects failures in front of it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

import requests

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
SRC = HERE / "src"
JAR = HERE / "target" / "hapi-server.jar"
BUILD_LOCK = HERE / "target" / ".build.lock"
#: The fat jar unpacked (Spring Boot "extract" layout: hapi-server.jar + lib/). A plain class
#: path starts several seconds faster than nested jars and allows a class-data-sharing archive.
EXTRACTED = HERE / "target" / "hapi-server"
EXTRACTED_JAR = EXTRACTED / "hapi-server.jar"
EXTRACTED_STAMP = EXTRACTED / ".extracted-from"
CDS_ARCHIVE = EXTRACTED / "hapi-server.jsa"

#: JVM options used unless ``HAPI_JAVA_OPTS`` or ``java_opts=`` says otherwise.
#: Measured: about 0.6-0.8 GB resident after start and a test run; 768 MB heap is ample for
#: tests and the demo. SerialGC suits a small, mostly idle server on 2 cores; C1-only JIT
#: (TieredStopAtLevel=1) makes start-up several seconds faster and is fast enough for tests.
DEFAULT_JAVA_OPTS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:MaxMetaspaceSize=384m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
)

#: Class-data sharing, opt-in with HAPI_CDS=1: the first start records the classes it loads
#: into CDS_ARCHIVE (written when that server stops, which then takes ~30-45 s longer, and the
#: recording start is slower too); later starts map them in and need ~20% less start-up CPU.
#: Worth it only when the server is started many times from one build (local development).
CDS_ENABLED = os.environ.get("HAPI_CDS", "0") == "1"

DEFAULT_STARTUP_TIMEOUT = float(os.environ.get("HAPI_STARTUP_TIMEOUT", "300"))
READY_LINE = re.compile(r"HAPI FHIR server ready at (http://\S+/fhir)")


class HapiServerError(RuntimeError):
    """The server could not be built, started or reached."""


def _tail(path: Path | None, lines: int = 60) -> str:
    if path is None or not path.exists():
        return "(no server log)"
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines))


def _require_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise HapiServerError(
            f"'{name}' was not found on PATH. The HAPI FHIR server needs a JDK (17 or newer) "
            "and Maven 3.8+ to build and run; install them (Debian: apt-get install "
            "openjdk-17-jdk-headless maven) and try again."
        )
    return found


def _newest_source_mtime() -> float:
    newest = POM.stat().st_mtime
    for path in SRC.rglob("*"):
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


def jar_is_current() -> bool:
    """True when the jar exists and is newer than pom.xml and every file under src/."""
    return JAR.exists() and JAR.stat().st_mtime >= _newest_source_mtime()


@contextlib.contextmanager
def _build_lock():
    """Serialise builds between processes (tests and the demo may start together)."""
    BUILD_LOCK.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not on POSIX: no cross-process lock
        yield
        return
    with BUILD_LOCK.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(force: bool = False, quiet: bool = True) -> Path:
    """Build ``target/hapi-server.jar`` with Maven unless it is already up to date."""
    _require_tool("java")
    if not force and jar_is_current():
        return JAR
    mvn = _require_tool("mvn")
    with _build_lock():
        if not force and jar_is_current():  # another process built it meanwhile
            return JAR
        cmd = [mvn, "-B", "-f", str(POM), "-DskipTests", "package"]
        if quiet:
            cmd.insert(2, "-q")
        started = time.monotonic()
        print(f"[hapi] building {JAR.name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        proc = subprocess.run(
            cmd,
            cwd=HERE,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
        )
        if proc.returncode != 0 or not JAR.exists():
            output = "\n".join((proc.stdout or "").splitlines()[-60:])
            raise HapiServerError(
                f"Maven build of the HAPI FHIR server failed (exit {proc.returncode}):\n{output}"
            )
        # A no-op Maven run can leave an old mtime: mark the jar as built now.
        os.utime(JAR, None)
        print(
            f"[hapi] built {JAR} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
        )
    return JAR


def _jar_stamp() -> str:
    st = JAR.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def extract() -> Path:
    """Unpack the fat jar into target/hapi-server/ (once per build); return the jar to run."""
    if EXTRACTED_STAMP.exists() and EXTRACTED_JAR.exists():
        if EXTRACTED_STAMP.read_text().strip() == _jar_stamp():
            return EXTRACTED_JAR
    java = _require_tool("java")
    with _build_lock():
        if EXTRACTED_STAMP.exists() and EXTRACTED_STAMP.read_text().strip() == _jar_stamp():
            return EXTRACTED_JAR
        shutil.rmtree(EXTRACTED, ignore_errors=True)
        proc = subprocess.run(
            [java, "-Djarmode=tools", "-jar", str(JAR), "extract", "--destination", str(EXTRACTED)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0 or not EXTRACTED_JAR.exists():
            raise HapiServerError(f"Could not unpack {JAR} (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
        EXTRACTED_STAMP.write_text(_jar_stamp())
    return EXTRACTED_JAR


def java_opts_from_env() -> list[str]:
    value = os.environ.get("HAPI_JAVA_OPTS")
    return shlex.split(value) if value else list(DEFAULT_JAVA_OPTS)


class HapiServer:
    """One HAPI FHIR JPA server process on a loopback port.

    ``with HapiServer() as base_url: ...`` builds the jar if needed, starts the server,
    waits until ``GET {base_url}/metadata`` answers 200, and stops it on exit.

    port:      TCP port; ``None`` (default) lets the server pick a free one.
    data_dir:  directory for the H2 database files; ``None`` keeps the database in memory.
    log_path:  where the server's output goes (default: a temporary file, kept after stop).
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike | None = None,
        java_opts: list[str] | tuple[str, ...] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        log_path: str | os.PathLike | None = None,
        build_jar: bool = True,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.java_opts = list(java_opts) if java_opts is not None else java_opts_from_env()
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path).resolve() if log_path else None
        self.build_jar = build_jar
        self.base_url: str | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None
        self._log_fh = None
        self._log_offset = 0
        self._frozen = False
        self._cds_training: Path | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> str:
        if self._proc is not None:
            raise HapiServerError("server already started")
        java = _require_tool("java")
        if self.build_jar:
            build()
        elif not JAR.exists():
            raise HapiServerError(f"{JAR} does not exist: run 'python {__file__} build' first")
        run_jar = extract()
        cds_opts: list[str] = []
        self._cds_training = None
        if CDS_ENABLED and not any("SharedArchiveFile" in o or "ArchiveClassesAtExit" in o for o in self.java_opts):
            if CDS_ARCHIVE.exists():
                cds_opts = [f"-XX:SharedArchiveFile={CDS_ARCHIVE}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
            else:
                self._cds_training = CDS_ARCHIVE.with_name(f"{CDS_ARCHIVE.name}.{os.getpid()}.{id(self)}.tmp")
                cds_opts = [f"-XX:ArchiveClassesAtExit={self._cds_training}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]

        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="hapi-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [java, *self.java_opts, *cds_opts, "-jar", str(run_jar), "--port", str(self.port or 0)]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--data-dir", str(self.data_dir)]

        started = time.monotonic()
        # A restart appends to the log of the earlier run; the ready line is looked for after it.
        restarting = self.base_url is not None
        self._log_fh = self.log_path.open("a" if restarting else "w", encoding="utf-8")
        self._log_fh.flush()
        self._log_offset = self.log_path.stat().st_size
        self._frozen = False
        env = dict(os.environ)
        env.pop("HAPI_PORT", None)  # the command line decides
        self._proc = subprocess.Popen(
            cmd,
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it cleanly
        )
        try:
            self.base_url = self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self.base_url

    def _wait_until_ready(self, started: float) -> str:
        deadline = started + self.startup_timeout
        base_url = None
        session = requests.Session()
        try:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise HapiServerError(
                        f"HAPI FHIR server exited with code {code} during start-up. "
                        f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise HapiServerError(
                        f"HAPI FHIR server did not answer {base_url or '<base>'}/metadata within "
                        f"{self.startup_timeout:.0f} s. Last lines of {self.log_path}:\n"
                        f"{_tail(self.log_path)}"
                    )
                if base_url is None:
                    match = READY_LINE.search(self._log_since_start())
                    if match:
                        base_url = match.group(1)
                if base_url is not None:
                    try:
                        resp = session.get(
                            f"{base_url}/metadata",
                            headers={"Accept": "application/fhir+json"},
                            timeout=10,
                        )
                        if resp.status_code == 200:
                            return base_url
                    except requests.RequestException:
                        pass
                time.sleep(0.25)
        finally:
            session.close()

    def _log_since_start(self) -> str:
        try:
            with self.log_path.open("r", encoding="utf-8", errors="replace") as fh:
                fh.seek(self._log_offset)
                return fh.read()
        except OSError:
            return ""

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL (a frozen server is thawed first)."""
        proc, self._proc = self._proc, None
        clean = False
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)  # a stopped JVM cannot act on SIGTERM
            self._frozen = False
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
                clean = True
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        training, self._cds_training = self._cds_training, None
        if training is not None and training.exists():
            # Keep the archive only from a server that started fully and stopped cleanly.
            if clean and self.base_url and training.stat().st_size > 0 and not CDS_ARCHIVE.exists():
                os.replace(training, CDS_ARCHIVE)
            else:
                training.unlink(missing_ok=True)

    # -- faults (for tests) -----------------------------------------------------------
    def _running_proc(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            raise HapiServerError("the server is not running")
        return self._proc

    def freeze(self) -> None:
        """SIGSTOP: the JVM stops executing. The kernel still accepts TCP connections into the
        listen backlog, so clients connect but get no answer until ``thaw()``."""
        self._running_proc().send_signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT: a frozen server carries on, answering what queued up meanwhile."""
        self._running_proc().send_signal(signal.SIGCONT)
        self._frozen = False

    @property
    def is_frozen(self) -> bool:
        return self._frozen and self.is_running()

    @contextlib.contextmanager
    def frozen(self):
        """``with server.frozen(): ...``: frozen inside the block, thawed on the way out."""
        self.freeze()
        try:
            yield self
        finally:
            if self.is_running():
                self.thaw()

    def kill(self) -> None:
        """SIGKILL at once, as a crash would: no shutdown hook, no flush, no clean close.

        The port and data directory are kept, so ``restart()`` brings the same server back
        on the same database and base URL (with ``data_dir=None`` everything is lost)."""
        proc, self._proc = self._proc, None
        if self.base_url:
            self.port = urlsplit(self.base_url).port
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        self._frozen = False
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        training, self._cds_training = self._cds_training, None
        if training is not None:
            training.unlink(missing_ok=True)

    def restart(self, kill: bool = True) -> str:
        """Start again on the same port and data directory; returns the base URL (unchanged).

        A running server is killed first (``kill=True``, a crash) or stopped with SIGTERM
        (``kill=False``, a clean shutdown)."""
        if self.base_url is None:
            raise HapiServerError("restart() needs a server that was started before")
        self.port = urlsplit(self.base_url).port
        if self._proc is not None:
            if kill:
                self.kill()
            else:
                self.stop()
        previous = self.base_url
        base_url = self.start()
        if base_url != previous:
            raise HapiServerError(f"restarted at {base_url}, expected {previous}")
        return base_url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def rss_kb(self) -> int | None:
        """Resident set size of the server process in kB (Linux), or None."""
        if not self.is_running():
            return None
        try:
            for line in Path(f"/proc/{self._proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- command line ------------------------------------------------------------------
def _cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    current = jar_is_current()
    build(force=args.force, quiet=not args.verbose)
    state = "up to date" if current and not args.force else "built"
    print(f"{JAR} {state} ({time.monotonic() - started:.1f} s)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    server = HapiServer(port=args.port, data_dir=args.data_dir, log_path=args.log)

    def _on_sigterm(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        base_url = server.start()
        print(
            f"HAPI FHIR R4 server ready at {base_url} "
            f"(started in {server.startup_seconds:.1f} s, RSS {(server.rss_kb() or 0) // 1024} MB, "
            f"log {server.log_path}). Ctrl-C stops it.",
            flush=True,
        )
        while server.is_running():
            time.sleep(0.5)
        print(f"Server exited unexpectedly. Log tail:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping HAPI FHIR server ...", flush=True)
        return 0
    except HapiServerError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build target/hapi-server.jar (skipped when up to date)")
    p_build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p_build.add_argument("--verbose", action="store_true", help="show Maven's output")
    p_build.set_defaults(func=_cmd_build)
    p_run = sub.add_parser("run", help="build if needed, start the server, stay until Ctrl-C")
    p_run.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p_run.add_argument("--data-dir", default=None, help="keep the H2 database here (default: in memory)")
    p_run.add_argument("--log", default=None, help="server log file (default: a temporary file)")
    p_run.set_defaults(func=_cmd_run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HapiServerError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
