"""The HTTP API on the whole stack: POST /v1/orders throughput, and submit → visible in GET /v1/orders/{id}.

    python -m bench.api [--clients K] [--orders N] [--rates R1,R2] [--seconds S] [--poll-ms P] [--json]

The stack runs as `sq up` runs it (deploy/stack.py: processors as workers, the sink in the `sq up` process,
the API in a process of its own, the clients in this one) on a throwaway topic prefix (``bench-<id>.api.``)
and a throwaway database, both deleted at the end. One admin key for four accounts with the flow's risk limits
(connectors/order_flow.py: crossing and resting limit, market, IOC and FOK orders, so some fill); the API's
per-key rate limit is lifted (it would otherwise be what is measured).

(a) throughput: K clients (one thread and one keep-alive connection each) POST N orders as fast as the API
answers; orders/s counts 202 answers only. The same clients first POST the same number of bodies to the plain
endpoint (bench/api_plain.py: the same body model validated, 202, nothing else; the API's uvicorn settings, a
process of its own), started while the stack is up and idle: `POST ÷ plain endpoint` is the ratio of the two.
Then every order is polled until GET shows it: N over first POST → last one visible is the end-to-end rate
(API → orders.commands → risk → OMS → venue → sink → PostgreSQL → API).
(b) latency, at each rate R: R orders/s for S seconds on a schedule; each is polled with GET every P ms from its
POST until it is visible; the latency is POST sent → the first GET that answers 200. The pipeline is idle
before each rate starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import KafkaError, KafkaException

from api import key_store
from api.auth import Role
from bench.common import (
    BenchTopics,
    Reporter,
    broker_pid,
    busy_warning,
    latency_stats,
    load_average,
    machine_cpu_s,
    machine_info,
    process_cpu_s,
    rate,
)
from connectors.order_flow import FlowConfig, OrderFlow
from connectors.postgres.databases import scratch_database
from connectors.postgres.sink import SinkOptions
from deploy.demo_session import Session, demo_account, order_body
from deploy.stack import READY_TIMEOUT_S, StackOptions, wait_until_consumed
from processors.runtime.pipeline import stage_of
from processors.runtime.registry import consumer_group
from processors.runtime.worker import DEFAULT_ENGINE
from schemas.names import NEW_ORDER
from settings import Settings, load_settings
from topics.admin import admin_client, physical_name
from topics.catalogue import RISK_LIMITS

PART = "api"
WARMUP_ORDERS = 20  # sent one by one and waited for: the workers' first transactions are slow
VISIBLE_TIMEOUT_S = 60.0
PACED_THREADS = 64
UNLIMITED_RATE = 1e9  # the API's per-key token bucket, lifted
STOP_TIMEOUT_S = 60.0
GROUPS_TIMEOUT_S = 30.0  # the workers' session timeout (10 s) and some


@dataclass
class Posted:
    order_id: str | None  # None: not a 202
    status: int
    sent: float  # perf_counter
    answered: float


@dataclass
class Visible:
    latency_s: float
    polls: int
    late_s: float  # how far behind its schedule the POST went out


@dataclass
class Bench:
    client_factory: Callable[[], httpx.Client]  # a client with the key and the base URL
    reporter: Reporter
    poll_s: float
    bodies: Iterator[dict[str, Any]]
    server_pid: int  # the API server process
    broker: int | None  # the local broker's process, None when elsewhere

    def take(self, n: int) -> list[dict[str, Any]]:
        return [next(self.bodies) for _ in range(n)]


def _wait_for(base_url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _ready(base_url):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _interrupt_and_wait(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def plain_process(reporter: Reporter) -> Iterator[tuple[str, int]]:
    """The plain endpoint (bench/api_plain.py) in a process of its own; its base URL once it answers, and its
    process id."""
    port = _free_port()
    reporter.progress("starting the plain endpoint …")
    plain = subprocess.Popen(
        [sys.executable, "-m", "bench.api_plain", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        start_new_session=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(base_url, plain, "the plain endpoint")
        yield base_url, plain.pid
    finally:
        _interrupt_and_wait(plain)


@contextmanager
def stack_process(settings: Settings, reporter: Reporter) -> Iterator[tuple[str, int]]:
    """`sq up` in a process of its own (the clients do not share its interpreter) with the per-key rate limit
    lifted; its base URL once /readyz answers, and the process id of its API server (deploy/stack.py). SIGINT
    stops it in its own order (API, processors, sink)."""
    port = _free_port()
    env = {
        **os.environ,
        **settings.as_env(),
        "SQ_API_HOST": "127.0.0.1",
        "SQ_API_PORT": str(port),
        "SQ_API_RATE_PER_SECOND": str(UNLIMITED_RATE),
        "SQ_API_RATE_BURST": str(int(UNLIMITED_RATE)),
    }
    base_url = f"http://127.0.0.1:{port}"
    reporter.progress(f"starting `sq up` on {settings.topic_prefix} …")
    up = subprocess.Popen(
        [sys.executable, "-m", "sq.cli", "up"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        start_new_session=True,
    )
    try:
        _wait_for(base_url, up, "`sq up`")
        yield base_url, api_server_pid(up.pid)
        if up.poll() is not None:
            raise RuntimeError(f"`sq up` stopped during the run (exit code {up.returncode})")
    finally:
        _interrupt_and_wait(up)


def delete_groups(settings: Settings, groups: list[str], timeout_s: float = GROUPS_TIMEOUT_S) -> list[str]:
    """Delete the run's consumer groups. The workers are static members (``group.instance.id``): their group is
    not empty until the session timeout after they stopped, so a group that is not empty yet is tried again.
    The groups still in use at the timeout."""
    admin = admin_client(settings)
    left = list(groups)
    deadline = time.monotonic() + timeout_s
    while left:
        futures = admin.delete_consumer_groups(left, request_timeout=10)
        waiting = []
        for group, future in futures.items():
            try:
                future.result()
            except KafkaException as error:
                if error.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                    waiting.append(group)
        left = waiting
        if left and time.monotonic() > deadline:
            break
        if left:
            time.sleep(1.0)
    return left


def api_server_pid(up_pid: int) -> int:
    """The API server `sq up` started (``python -m api.server``, a child of it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == up_pid and b"api.server" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    raise RuntimeError(f"no API server process under `sq up` (pid {up_pid})")


@dataclass(frozen=True)
class CpuMark:
    """CPU seconds so far: the server under test, the broker (when local), the whole machine (busy, total)."""

    server_s: float
    broker_s: float
    machine: tuple[float, float]

    @classmethod
    def now(cls, server_pid: int, broker: int | None) -> CpuMark:
        return cls(process_cpu_s(server_pid), process_cpu_s(broker) if broker else 0.0, machine_cpu_s())


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def order_bodies(run_id: str, count: int) -> Iterator[dict[str, Any]]:
    """New orders only (no cancels, amends or invalid commands), as POST /v1/orders bodies."""
    flow = OrderFlow(
        FlowConfig(orders=count, run_id=run_id, start_time_us=0, invalid_share=0.0, cancel_share=0.0, amend_share=0.0)
    )
    for command in flow.commands():
        if command.schema == NEW_ORDER:
            yield order_body(command.record, demo_account(run_id, command.key))


def post(client: httpx.Client, body: dict[str, Any]) -> Posted:
    sent = time.perf_counter()
    response = client.post("/v1/orders", json=body)
    answered = time.perf_counter()
    order_id = response.json()["order_id"] if response.status_code == 202 else None
    return Posted(order_id, response.status_code, sent, answered)


def wait_visible(client: httpx.Client, order_id: str, poll_s: float) -> tuple[float, int]:
    """Poll GET /v1/orders/{id} until it answers 200: (perf_counter of that answer, GETs sent)."""
    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    polls = 0
    while True:
        polls += 1
        status = client.get(f"/v1/orders/{order_id}").status_code
        if status == 200:
            return time.perf_counter(), polls
        if status not in (404, 503):  # 503: no database connection free in time; polled again
            raise RuntimeError(f"GET /v1/orders/{order_id} answered {status}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"order {order_id} was not visible within {VISIBLE_TIMEOUT_S:.0f} s")
        time.sleep(poll_s)


def warm_up(bench: Bench) -> None:
    with bench.client_factory() as client:
        for body in bench.take(WARMUP_ORDERS):
            posted = post(client, body)
            if posted.order_id is None:
                raise RuntimeError(f"warm-up order refused with {posted.status}")
            wait_visible(client, posted.order_id, bench.poll_s)


def burst(
    client_factory: Callable[[], httpx.Client], bodies: list[dict[str, Any]], clients: int
) -> tuple[list[Posted], float]:
    """K clients (a thread and a keep-alive connection each) POST ``bodies`` as fast as answered: every answer,
    and the perf_counter of the start."""
    slices = [bodies[i::clients] for i in range(clients)]
    results: list[list[Posted]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        with client_factory() as client:
            start.wait()
            results[index] = [post(client, body) for body in slices[index]]

    threads = [threading.Thread(target=client_loop, args=(i,), name=f"bench-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    posted = [p for per_client in results for p in per_client]
    if len(posted) != len(bodies):
        raise RuntimeError(f"the clients posted {len(posted)} of {len(bodies)} orders (a client thread failed)")
    return posted, began


def report_burst(
    reporter: Reporter, phase: str, posted: list[Posted], began: float, cpu: tuple[CpuMark, CpuMark]
) -> float:
    """The burst's figures (with where the CPU went: the server under test, the broker, the machine); its rate
    of 202 answers."""
    accepted = [p for p in posted if p.order_id is not None]
    last_answer = max(p.answered for p in posted)
    refused = len(posted) - len(accepted)
    per_second = rate(len(accepted), last_answer - began)
    reporter.add(
        phase,
        "throughput (202 answers)",
        per_second,
        "orders/s",
        f"{len(accepted)} of {len(posted)} accepted in {last_answer - began:.2f} s"
        + (f"; {refused} refused" if refused else ""),
        load_average=load_average(),
    )
    stats = latency_stats([(p.answered - p.sent) * 1e6 for p in accepted])
    reporter.add_latency(phase, stats, "POST sent → 202 answer, under full load")
    first, last = cpu
    busy, total = (b - a for a, b in zip(first.machine, last.machine, strict=True))
    reporter.add(
        phase,
        "server CPU per request",
        (last.server_s - first.server_s) / len(posted) * 1e3,
        "ms",
        f"the server process's user + system CPU over the burst; broker "
        f"{(last.broker_s - first.broker_s) / len(posted) * 1e3:.2f} ms per request; the machine "
        f"{busy / total * 100 if total else 0:.0f} % busy (all CPUs)",
    )
    return per_second


def plain_throughput(bench: Bench, clients: int, orders: int) -> float:
    """The plain endpoint's rate of 202 answers, for as many bodies (not the API's: they stay unused there)."""
    bodies = [{**body, "client_order_id": f"plain-{i}"} for i, body in enumerate(bench.take(orders))]
    with plain_process(bench.reporter) as (base_url, pid):

        def client_factory() -> httpx.Client:
            return httpx.Client(base_url=base_url, timeout=30)

        for body in bodies[:WARMUP_ORDERS]:
            with client_factory() as client:
                post(client, body)
        bench.reporter.progress(f"(a) plain endpoint: {orders} bodies from {clients} clients …")
        first = CpuMark.now(pid, bench.broker)
        posted, began = burst(client_factory, bodies, clients)
        cpu = (first, CpuMark.now(pid, bench.broker))
    return report_burst(bench.reporter, f"plain endpoint, {clients} clients", posted, began, cpu)


def produce_totals(client: httpx.Client) -> tuple[float, float]:
    """The API's ``sq_api_produce_duration_seconds`` (produce → the broker's acknowledgement): (sum s, count)."""
    totals = {"sum": 0.0, "count": 0.0}
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        for part in totals:
            if name == f"sq_api_produce_duration_seconds_{part}":
                totals[part] = float(value)
    return totals["sum"], totals["count"]


def throughput(bench: Bench, clients: int, orders: int) -> None:
    """(a): the plain endpoint, then K clients POST `orders` as fast as answered; then the time until all are
    visible."""
    reporter = bench.reporter
    plain = plain_throughput(bench, clients, orders)
    reporter.progress(f"(a) {orders} orders from {clients} clients …")
    with bench.client_factory() as client:
        before = produce_totals(client)
    first = CpuMark.now(bench.server_pid, bench.broker)
    posted, began = burst(bench.client_factory, bench.take(orders), clients)
    cpu = (first, CpuMark.now(bench.server_pid, bench.broker))
    phase = f"POST /v1/orders, {clients} clients"
    api = report_burst(reporter, phase, posted, began, cpu)
    reporter.add(phase, "POST ÷ plain endpoint", api / plain, "ratio", f"{api:.0f} ÷ {plain:.0f} orders/s")
    with bench.client_factory() as client:
        after = produce_totals(client)
    if produced := after[1] - before[1]:
        reporter.add(
            phase,
            "produce → acknowledgement, mean",
            (after[0] - before[0]) / produced * 1e6,
            "µs",
            f"the API's sq_api_produce_duration_seconds over the {produced:.0f} commands (acks=all)",
        )
    accepted = [p for p in posted if p.order_id is not None]

    reporter.progress(f"(a) polling until all {len(accepted)} orders are visible …")
    with bench.client_factory() as client:
        last_visible = max(wait_visible(client, p.order_id, bench.poll_s)[0] for p in accepted if p.order_id)
    reporter.add(
        "submit → visible, burst",
        "end to end",
        rate(len(accepted), last_visible - began),
        "orders/s",
        f"{len(accepted)} orders, first POST → last visible in GET {last_visible - began:.2f} s "
        f"(orders.commands → risk → OMS → venue → sink → PostgreSQL)",
    )


def _cpu_shares(first: tuple[CpuMark, float], last: tuple[CpuMark, float], count: int) -> str:
    """Where the CPU went over a paced phase: per order, the API, the broker, these clients; the machine."""
    (api_0, clients_0), (api_1, clients_1) = first, last
    busy, total = (b - a for a, b in zip(api_0.machine, api_1.machine, strict=True))
    return (
        f"CPU per order: API {(api_1.server_s - api_0.server_s) / count * 1e3:.2f} ms, broker "
        f"{(api_1.broker_s - api_0.broker_s) / count * 1e3:.2f} ms, the clients "
        f"{(clients_1 - clients_0) / count * 1e3:.2f} ms; the machine {busy / total * 100 if total else 0:.0f} % busy"
    )


def paced_latency(bench: Bench, per_second: float, seconds: float) -> None:
    """(b): orders on a schedule, each polled until visible; POST sent → first 200 from GET."""
    reporter = bench.reporter
    count = max(1, int(per_second * seconds))
    bodies = bench.take(count)
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = bench.client_factory()
            with lock:
                clients.append(local.client)
        made: httpx.Client = local.client
        return made

    def one(body: dict[str, Any], due: float) -> Visible:
        posted = post(client(), body)
        if posted.order_id is None:
            raise RuntimeError(f"POST /v1/orders answered {posted.status}")
        seen, polls = wait_visible(client(), posted.order_id, bench.poll_s)
        return Visible(seen - posted.sent, polls, max(0.0, posted.sent - due))

    reporter.progress(f"(b) {count} orders at {per_second:g}/s, each polled every {bench.poll_s * 1000:g} ms …")
    futures: list[Future[Visible]] = []
    # 64 threads (each an order's POST and its GETs): a pool sized to the orders in flight at 200/s (400
    # threads) measured worse, its own GIL contention costing 5.2 ms of CPU per order (docs/BENCHMARKS.md).
    with ThreadPoolExecutor(max_workers=PACED_THREADS, thread_name_prefix="bench-paced") as pool:
        began = time.perf_counter()
        first = CpuMark.now(bench.server_pid, bench.broker), process_cpu_s(os.getpid())
        for i, body in enumerate(bodies):
            due = began + i / per_second
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, body, due))
        visible = [f.result() for f in futures]
        last = CpuMark.now(bench.server_pid, bench.broker), process_cpu_s(os.getpid())
    for made in clients:
        made.close()
    late = sum(v.late_s > 0.001 for v in visible)
    polls = sum(v.polls for v in visible) / len(visible)
    stats = latency_stats([v.latency_s * 1e6 for v in visible])
    reporter.add_latency(
        f"submit → visible, {per_second:g}/s",
        stats,
        f"POST sent → first GET /v1/orders/{{id}} answering 200, polled every "
        f"{bench.poll_s * 1000:g} ms ({polls:.1f} GETs each); {late} POSTs > 1 ms behind schedule, "
        f"at most {max(v.late_s for v in visible) * 1000:.1f} ms; {_cpu_shares(first, last, count)}",
        load_average=load_average(),
    )


def run(reporter: Reporter, clients: int, orders: int, rates: Sequence[float], seconds: float, poll_s: float) -> None:
    base = load_settings()
    info = machine_info(base)
    reporter.machine(info)
    if warning := busy_warning(info):
        reporter.line(warning)
    topics = BenchTopics(base)
    run_id = f"bench-{topics.run_id}"
    reporter.notes.update(
        clients=clients,
        orders=orders,
        rates_per_s=list(rates),
        seconds=seconds,
        poll_ms=poll_s * 1000,
        machine=info,
        topic_prefix=f"{topics.prefix}{PART}.",
    )
    with scratch_database(base.database_url, "bench_api") as database_url:
        settings = base.with_topic_prefix(f"{topics.prefix}{PART}.").with_database_url(database_url)
        stack = StackOptions()
        topics.groups.extend(consumer_group(settings, DEFAULT_ENGINE, stage) for stage in stack.stages)
        topics.groups.append(physical_name(settings, f"sq.sink.{SinkOptions().projection}"))
        try:
            with stack_process(settings, reporter) as (base_url, server_pid):
                session = Session(httpx.Client(base_url=base_url, timeout=30), run_id, orders, threading.Event())
                accounts = session.run_accounts()
                with psycopg.connect(database_url, autocommit=True) as conn:
                    key = key_store.create_key(conn, Role.ADMIN, accounts, label=f"bench {run_id}").key
                with session.client:
                    session.client.headers["X-API-Key"] = key
                    limits = session.set_limits()
                risk_group = consumer_group(settings, DEFAULT_ENGINE, stage_of("risk", stack.topology))
                wait_until_consumed(settings, risk_group, RISK_LIMITS, limits, stop=threading.Event())

                def client_factory() -> httpx.Client:
                    return httpx.Client(base_url=base_url, timeout=30, headers={"X-API-Key": key})

                total = WARMUP_ORDERS + 2 * orders + sum(max(1, int(r * seconds)) for r in rates)
                bench = Bench(
                    client_factory,
                    reporter,
                    poll_s,
                    order_bodies(run_id, total),
                    server_pid,
                    broker_pid(settings.bootstrap_servers),
                )
                reporter.progress(f"warm-up: {WARMUP_ORDERS} orders, each waited for …")
                warm_up(bench)
                throughput(bench, clients, orders)
                for per_second in rates:
                    paced_latency(bench, per_second, seconds)
        finally:
            reporter.progress(f"deleted {len(topics.cleanup())} topics; deleting the consumer groups …")
            if left := delete_groups(base, topics.groups):
                reporter.progress(f"WARNING: consumer groups still in use, not deleted: {', '.join(left)}")
            reporter.progress("dropping the database …")
    reporter.notes["load_average_at_end"] = load_average()
    reporter.line(f"load average (1, 5, 15 min) after the run: {', '.join(map(str, load_average()))}")


def _rates(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of rates: {text!r}") from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.api", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the throughput phase")
    parser.add_argument("--orders", type=int, default=2_000, help="orders of the throughput phase")
    parser.add_argument(
        "--rates", type=_rates, default=[50.0, 200.0], help="orders per second of the latency phases (comma-separated)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="GET /v1/orders/{id} interval while waiting")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.clients, args.orders, *args.rates, args.seconds, args.poll_ms) <= 0:
        parser.error("--clients, --orders, --rates, --seconds and --poll-ms must be positive")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up too: the stack, the topics, the database
    reporter = Reporter(args.json)
    run(reporter, args.clients, args.orders, args.rates, args.seconds, args.poll_ms / 1000)
    reporter.finish(benchmark="api")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
