"""A single-node Apache Kafka 4.x broker in KRaft mode, resolved from Maven Central.

`infra/kafka/pom.xml` pins the version; Maven resolves the jars into `~/.m2` and writes the
classpath under the state directory, so a second start needs no network.
"""

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from crm.errors import InfrastructureError
from crm.local.paths import kafka_pom
from crm.local.processes import (
    free_port,
    log_tail,
    port_accepts,
    spawn_server,
    stop_process,
    wait_until,
)

log = structlog.get_logger(__name__)

MIN_JAVA = 17
READY_MARKER = "Kafka Server started"

LOG4J2_CONFIG = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64 (22 characters).

    One that starts with `-` would be read as an option by the storage tool, so draw again.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def require_java_and_maven() -> None:
    """Fail with an installable hint when Java 17+ or Maven is missing."""
    java = shutil.which("java")
    if java is None:
        raise InfrastructureError(
            "Java 17 or newer is required to run the local Kafka broker, and `java` is not on PATH. "
            "Install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) or point "
            "CRM_KAFKA_BOOTSTRAP at an existing Kafka cluster."
        )
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', version)
    if match and int(match.group(1)) < MIN_JAVA:
        raise InfrastructureError(
            f"Kafka 4 needs Java {MIN_JAVA}+, found: {version.splitlines()[0]}. "
            "Install OpenJDK 17 (`apt-get install openjdk-17-jre-headless`)."
        )
    if shutil.which("mvn") is None:
        raise InfrastructureError(
            "Maven is required to resolve the Kafka broker's jars from Maven Central, and `mvn` is "
            "not on PATH. Install it (Debian/Ubuntu: `apt-get install maven`) or point "
            "CRM_KAFKA_BOOTSTRAP at an existing Kafka cluster."
        )


def resolve_classpath(work_dir: Path, pom: Path | None = None) -> str:
    """The broker's classpath, resolved by Maven once per version of the pom."""
    pom = pom or kafka_pom()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    cached = work_dir / f"classpath-{digest}.txt"
    if cached.exists():
        classpath = cached.read_text().strip()
        if all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    require_java_and_maven()
    work_dir.mkdir(parents=True, exist_ok=True)
    log.info("kafka.resolving_jars", pom=str(pom))
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(pom), "dependency:build-classpath", f"-Dmdep.outputFile={cached.resolve()}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not cached.exists():
        raise InfrastructureError(
            f"Maven could not resolve the Kafka broker from {pom}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    return cached.read_text().strip()


def broker_command(heap: str, work_dir: Path, classpath: str, config: Path, *jvm_options: str) -> list[str]:
    """The JVM command line of one Kafka node: `work_dir` holds its log4j2.properties."""
    return [
        "java",
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        *jvm_options,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={work_dir / 'log4j2.properties'}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(config),
    ]


@dataclass
class KafkaBroker:
    """One broker+controller on loopback. Use as a context manager or call start()/stop()."""

    work_dir: Path
    port: int = 0
    heap: str = "512m"
    host: str = "127.0.0.1"
    start_timeout: float = 90.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.work_dir = self.work_dir.resolve()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> "KafkaBroker":
        require_java_and_maven()
        classpath = resolve_classpath(self.work_dir)
        self.port = self.port or free_port(self.host)
        controller_port = free_port(self.host)
        config = self._write_config(controller_port)
        if not (self.data_dir / "meta.properties").exists():
            self._format(classpath, config)
        java = broker_command(self.heap, self.work_dir, classpath, config)
        log.info("kafka.starting", bootstrap=self.bootstrap, log=str(self.log_path))
        self.log_path.unlink(missing_ok=True)
        self._process = spawn_server(java, self.work_dir / "java.out", cwd=self.work_dir)
        self._wait_ready()
        log.info("kafka.ready", bootstrap=self.bootstrap, pid=self._process.pid)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is None:
            return
        code = stop_process(self._process, signal.SIGTERM, timeout)
        log.info("kafka.stopped", pid=self._process.pid, exit_code=code)
        self._process = None

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self, controller_port: int) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.properties").write_text(LOG4J2_CONFIG.format(log=self.log_path))
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "message.max.bytes": str(2 * 1024 * 1024),
        }
        path = self.work_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _format(self, classpath: str, config: Path) -> None:
        cluster_id = new_cluster_id()
        result = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise InfrastructureError(
                f"Formatting Kafka storage in {self.data_dir} failed:\n{result.stdout}{result.stderr}"
            )

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None

        def ready() -> bool:
            if process.poll() is not None:
                return True
            started = READY_MARKER in self.log_path.read_text(errors="replace") if self.log_path.exists() else False
            return started and port_accepts(self.host, self.port)

        wait_until(ready, self.start_timeout)
        if process.poll() is not None or not port_accepts(self.host, self.port):
            self.stop(timeout=5)
            raise InfrastructureError(
                f"Kafka did not become ready on {self.bootstrap} within {self.start_timeout:.0f}s.\n"
                f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}\n"
                f"Last lines of {self.work_dir / 'java.out'}:\n{log_tail(self.work_dir / 'java.out')}"
            )
