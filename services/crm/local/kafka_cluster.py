"""A local KRaft cluster of three combined controller+broker nodes with a SASL_SSL client listener.

For the tests of replication and broker loss: the same Maven-resolved jars as the single broker
(crm/local/kafka_broker.py). Clients speak SASL_SSL with SCRAM-SHA-512 (the credentials are
written at format time, `--add-scram`); the brokers talk to each other and to the controllers in
PLAINTEXT on loopback. The caller brings the server certificate and key (PEM; tests/support makes
them with `cryptography`).
"""

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from crm.errors import InfrastructureError
from crm.local.kafka_broker import (
    LOG4J2_CONFIG,
    READY_MARKER,
    broker_command,
    new_cluster_id,
    require_java_and_maven,
    resolve_classpath,
)
from crm.local.processes import free_port, log_tail, port_accepts, spawn_server, stop_process, wait_until

log = structlog.get_logger(__name__)

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class ClusterTls:
    """The brokers' certificate chain and key (PEM files); the CA is the clients' business."""

    cert_file: Path
    key_file: Path


@dataclass
class KafkaNode:
    node_id: int
    work_dir: Path
    client_port: int
    broker_port: int
    controller_port: int
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "broker.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


@dataclass
class KafkaCluster:
    """Three nodes on 127.0.0.1; `kill(node)` and `restart(node)` for fault tests. A context manager."""

    work_dir: Path
    username: str
    password: str
    tls: ClusterTls
    heap: str = "320m"
    size: int = 3
    start_timeout: float = 120.0
    classpath_dir: Path | None = None  # where the jars' classpath is cached (default: work_dir)
    nodes: list[KafkaNode] = field(default_factory=list, init=False)
    _classpath: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self.work_dir = self.work_dir.resolve()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.client_port}" for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self) -> "KafkaCluster":
        require_java_and_maven()
        self._classpath = resolve_classpath(self.classpath_dir or self.work_dir)
        self.nodes = [
            KafkaNode(i, self.work_dir / f"node-{i}", free_port(), free_port(), free_port())
            for i in range(1, self.size + 1)
        ]
        cluster_id = new_cluster_id()
        for node in self.nodes:
            self._format(node, self._write_config(node), cluster_id)
        for node in self.nodes:  # all at once: a controller waits for a quorum
            self._spawn(node)
        for node in self.nodes:
            self._wait_ready(node)
        log.info("kafka_cluster.ready", bootstrap=self.bootstrap)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node._process is not None:
                stop_process(node._process, signal.SIGTERM, 30.0)
                node._process = None

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no clean shutdown, no leadership handed over."""
        node = self.node(node_id)
        assert node._process is not None
        stop_process(node._process, signal.SIGKILL, 10.0)
        node._process = None
        log.info("kafka_cluster.killed", node=node_id)

    def restart(self, node_id: int) -> None:
        node = self.node(node_id)
        self._spawn(node)
        self._wait_ready(node)

    def __enter__(self) -> "KafkaCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self, node: KafkaNode) -> Path:
        data = node.work_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (node.work_dir / "log4j2.properties").write_text(LOG4J2_CONFIG.format(log=node.log_path))
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        replicas = str(min(3, self.size))
        min_isr = "2" if self.size >= 3 else "1"
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"CLIENTS://127.0.0.1:{node.client_port},BROKERS://127.0.0.1:{node.broker_port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"CLIENTS://127.0.0.1:{node.client_port},BROKERS://127.0.0.1:{node.broker_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "BROKERS",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,BROKERS:PLAINTEXT,CLIENTS:SASL_SSL",
            "listener.name.clients.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.clients.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            "listener.name.clients.ssl.keystore.type": "PEM",
            "listener.name.clients.ssl.keystore.location": str(self._keystore(node)),
            "log.dirs": str(data),
            "num.partitions": "4",
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(2 * 1024 * 1024),
            # A killed leader's partitions move within seconds, not the default 18 s of silence.
            "broker.session.timeout.ms": "6000",
            "broker.heartbeat.interval.ms": "1000",
        }
        path = node.work_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _keystore(self, node: KafkaNode) -> Path:
        # Kafka's PEM key store: the private key, then the certificate chain, in one file.
        path = node.work_dir / "keystore.pem"
        path.write_text(self.tls.key_file.read_text() + self.tls.cert_file.read_text())
        path.chmod(0o600)
        return path

    def _format(self, node: KafkaNode, config: Path, cluster_id: str) -> None:
        credential = f"{MECHANISM}=[name={self.username},password={self.password}]"
        result = subprocess.run(
            [
                *("java", "-cp", self._classpath, "kafka.tools.StorageTool", "format"),
                *("-t", cluster_id, "-c", str(config), "--add-scram", credential),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise InfrastructureError(f"Formatting Kafka node {node.node_id} failed:\n{result.stdout}{result.stderr}")

    def _spawn(self, node: KafkaNode) -> None:
        java = broker_command(
            self.heap,
            node.work_dir,
            self._classpath,
            node.work_dir / "server.properties",
            "-XX:TieredStopAtLevel=1",  # C1 only: less CPU at start on a small machine
        )
        node.log_path.unlink(missing_ok=True)
        node._process = spawn_server(java, node.work_dir / "java.out", cwd=node.work_dir)
        log.info("kafka_cluster.starting", node=node.node_id, port=node.client_port, pid=node._process.pid)

    def _wait_ready(self, node: KafkaNode) -> None:
        process = node._process
        assert process is not None

        def ready() -> bool:
            if process.poll() is not None:
                return True
            text = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
            return READY_MARKER in text and port_accepts("127.0.0.1", node.client_port)

        wait_until(ready, self.start_timeout)
        if process.poll() is not None or not port_accepts("127.0.0.1", node.client_port):
            self.stop()
            raise InfrastructureError(
                f"Kafka node {node.node_id} did not become ready within {self.start_timeout:.0f}s.\n"
                f"Last lines of {node.log_path}:\n{log_tail(node.log_path)}\n"
                f"Last lines of {node.work_dir / 'java.out'}:\n{log_tail(node.work_dir / 'java.out')}"
            )
