"""Where offline discovery's tasks run: this process, a local Dask cluster, or an existing one.

Dask distributed, not Ray and not a home-made pool (the reasons are in ARCHITECTURE.md):
``workers`` > 1 starts a ``LocalCluster`` of that many worker processes (one thread each,
BLAS at one thread), ``cluster`` connects to a running scheduler (``tcp://host:8786``;
one that does not answer within 10 s is a :class:`~causalstream.models.errors.ClusterError`).
A task that raises is retried once (``retries=1``); a worker that dies is replaced by its
nanny and its task rescheduled, at most ``ALLOWED_FAILURES`` times (KilledWorker after that). A task that still fails
is named in the returned failures and the others finish.

>>> import numpy as np
>>> from causalstream.models.causal.discover import as_series, plan, run_task
>>> tasks = plan(as_series(np.zeros((40, 2))), {"window": 20, "hop": 10, "tau_max": 1})
>>> graphs, failed = run_tasks(run_task, tasks)
>>> [w.index for w in graphs], failed
([0, 1, 2], [])
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from causalstream.models.errors import ClusterError

__all__ = ["run_tasks"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
ALLOWED_FAILURES = 3  # a task whose worker died more often than this is given up (Dask's default)


def _label(task: Any) -> str:
    name = task.series.name or "table"
    return name if task.keep_from == 0 and task.first == 0 else f"{name} (windows {task.keep_from}-{task.keep_to - 1})"


Run = Callable[[Any], list]  # discover.run_task: a Task -> its WindowGraphs


def _in_process(run_task: Run, tasks: Sequence[Any], progress: Callable[[int, int], None] | None
                ) -> tuple[list[Any], list[tuple[str, str]]]:
    graphs: list[Any] = []
    failed: list[tuple[str, str]] = []
    for done, task in enumerate(tasks, 1):
        for attempt in range(2):  # the same retry as on the cluster
            try:
                graphs.extend(run_task(task))
                break
            except Exception as exc:  # noqa: BLE001  (a task's failure is reported, the others go on)
                if attempt:
                    failed.append((_label(task), f"{type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(done, len(tasks))
    return graphs, failed


def _client(workers: int, cluster: str | None) -> Any:
    """A Dask client on the cluster at ``cluster``, or on a new local cluster of ``workers`` processes."""
    try:  # on first use: Dask takes about a second to import
        dask = importlib.import_module("dask")
        distributed = importlib.import_module("dask.distributed")
    except ImportError as exc:  # pragma: no cover - dask ships with the package
        raise ClusterError(cluster or "local", f"Dask distributed is not installed ({exc})") from None
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
    logging.getLogger("distributed").setLevel(logging.WARNING)  # a failed task is in our report, once
    if cluster:
        try:
            return Client(cluster, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(cluster, f"no Dask scheduler answered within {CONNECT_TIMEOUT_S:g} s "
                                        f"({type(exc).__name__})") from None
    env = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: os.environ.get(k, v) for k, v in env.items()})  # the workers inherit it
    # death_timeout: a worker whose scheduler (in this process) is gone closes itself, so a killed
    # run leaves no worker behind
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                         silence_logs=logging.CRITICAL, death_timeout=10)
    return Client(local)


def run_tasks(run_task: Run, tasks: Sequence[Any], workers: int = 1, cluster: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> tuple[list[Any], list[tuple[str, str]]]:
    """Run ``run_task`` on each task; (window graphs, [(task, why)] of the tasks that failed twice).

    >>> def boom(task): raise ValueError("no")
    >>> import numpy as np
    >>> from causalstream.models.causal.discover import as_series, plan
    >>> tasks = plan(as_series(np.zeros((30, 1)), name="r"), {"window": 20, "hop": 10, "tau_max": 1})
    >>> run_tasks(boom, tasks)
    ([], [('r', 'ValueError: no')])
    """
    if workers < 1:
        raise ClusterError("local", f"workers must be >= 1, got {workers}")
    if cluster is None and workers == 1:
        return _in_process(run_task, tasks, progress)
    client = _client(workers, cluster)
    graphs: list[Any] = []
    failed: list[tuple[str, str]] = []
    try:
        # as many tasks in flight as the cluster has threads: each one running, none queued behind
        # another on a worker, so a worker that dies is blamed for its own task only
        slots = max(1, sum(client.nthreads().values()))
        todo = iter(tasks)
        running: dict[Any, Any] = {}

        def submit() -> None:
            task = next(todo, None)
            if task is not None:
                future = client.submit(run_task, task, retries=1, pure=False)
                running[future] = task
                pending.add(future)

        pending = importlib.import_module("dask.distributed").as_completed()
        for _ in range(slots):
            submit()
        for done, future in enumerate(pending, 1):
            task = running.pop(future)
            try:
                graphs.extend(future.result())
            except Exception as exc:  # noqa: BLE001  (KilledWorker, or the task's own error twice)
                failed.append((_label(task), f"{type(exc).__name__}: {exc}"))
            submit()
            if progress is not None:
                progress(done, len(tasks))
    finally:
        local = client.cluster if cluster is None else None
        client.close()
        if local is not None:
            local.close()
    return graphs, failed
