"""Where independent tasks run: a local process pool (the default) or Ray.

Both executors take a module-level function and a list of picklable task arguments and
call ``on_done(index, result)`` in the calling process as each task finishes, in
completion order, so callers can stream results to disk. Nothing here knows about
scenarios; :mod:`seedbed.sweeps` and :mod:`seedbed.backends.tune_pbt` build on it.

Ray is optional (``pip install 'seedbed[ray]'``) and imported only here, lazily. A local
Ray instance starts on loopback with its temp dir inside the run folder, no dashboard,
usage stats and token files off, so nothing is written outside the run folder.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from seedbed.core.schema import ScenarioError

EXECUTORS = ("local", "ray")
# AF_UNIX socket paths are limited to 107 bytes; Ray puts sockets at
# <temp>/session_<date>_<pid>/sockets/plasma_store (about 60 characters below <temp>).
_MAX_RAY_TEMP = 44

OnDone = Callable[[int, Any], None]


class WorkerDied(RuntimeError):
    """A worker process of a local pool died; the run folder can be resumed."""

    REASON = "a worker process died (killed, or out of memory)"


def default_workers() -> int:
    """Local workers when none are asked for: the cores available, at most 2 (the project's
    machines have 2; more oversubscribes shared CI runners)."""
    return max(1, min(2, os.cpu_count() or 1))


def worker_env() -> dict[str, str]:
    """Environment for worker processes: one BLAS/torch thread each, caches where the
    driver has them, no network look-ups for models."""
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0"}
    for k in ("SEEDBED_CACHE", "MPLCONFIGDIR", "XDG_DATA_HOME"):
        if k in os.environ:
            env[k] = str(Path(os.environ[k]).resolve())
    return env


def one_thread() -> None:
    """Called at the start of each task: one torch thread per worker (if torch is loaded)."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_local(fn: Callable[[Any], Any], tasks: Sequence[Any], on_done: OnDone, workers: int | None = None,
              method: str | None = None) -> None:
    """Run ``fn(task)`` for every task: inline for one worker (or one task), else on a
    process pool. Forked workers when torch is not loaded in this process (fast start),
    spawned ones when it is (forking a process that has started torch's thread pools is
    unsafe), or as ``method`` says ("spawn": a fresh interpreter, whose BLAS starts with the
    workers' one thread; a forked one keeps the thread count its parent's BLAS started with)."""
    workers = workers or default_workers()
    if workers <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            on_done(i, fn(t))
        return
    method = method or ("spawn" if "torch" in sys.modules else "fork")
    saved = {k: os.environ.get(k) for k in worker_env()}
    os.environ.update(worker_env())              # inherited by the workers
    try:
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context(method),
                                 initializer=_default_signals) as pool:
            pending = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_done(pending.pop(f), f.result())
            except BrokenProcessPool:         # a worker was killed (a signal, out of memory)
                raise WorkerDied(f"{WorkerDied.REASON}; the tasks that finished are saved: run the same command "
                                 "again to resume") from None
            except BaseException:             # Ctrl-C, SIGTERM or a failed task: stop the workers (a neural
                _stop_workers(pool)           # repetition runs for minutes; its finished rounds are kept).
                raise                         # Not f.cancel() first: the pool then fails every future
                                              # itself, and a cancelled one makes its thread raise (3.11)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _default_signals() -> None:
    """A worker's signals: SIGTERM back to the default (a forked worker inherits the CLI's
    handlers, which turn a signal into an exception the pool would hand back as a task's
    result, and keep the worker alive), and SIGINT ignored: a terminal's Ctrl-C reaches the
    whole process group, and the parent, which owns it, stops the workers itself (a worker's
    own KeyboardInterrupt would print a traceback and could read as a dead worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes, so leaving the pool does not wait for running tasks
    (``ProcessPoolExecutor`` has no public way to before Python 3.14). What they finished is
    already written: checkpoints and parts are written whole or not at all."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        if p.is_alive():
            p.kill()


def require_ray():
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        raise ScenarioError("--executor ray needs the 'ray' extra: pip install -c constraints.txt "
                            "'seedbed[ray]'") from None
    return ray


@contextmanager
def ray_session(run_dir: Path, address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """A connected Ray for the duration of the block.

    Without ``address``: a fresh local instance on 127.0.0.1 with ``num_cpus`` CPUs and its
    temp dir at ``run_dir/ray`` (reached through a short link in the system temp folder
    when the real path is too long for Ray's Unix sockets). With ``address``: connects to
    that cluster (its temp dir and dashboard are the cluster's business). If Ray is already
    initialised in this process it is used as is and left running.
    """
    if not address:
        # Ray treats 127.0.0.1 as "this node" and swaps in the machine's network address
        # unless clustering is off: off, every server binds and talks on loopback only. The
        # flag is read from the environment when ray is imported (here, or by its servers).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray = require_ray()
    if not address:
        from ray._private import ray_constants
        ray_constants.ENABLE_RAY_CLUSTER = False          # ray was imported before this session
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")       # else Ray writes a token to ~/.ray
    if ray.is_initialized():
        yield ray
        return
    env = {"env_vars": worker_env()}
    link = None
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="ERROR")
    else:
        temp = (Path(run_dir) / "ray").resolve()
        temp.mkdir(parents=True, exist_ok=True)
        if len(str(temp)) > _MAX_RAY_TEMP:
            link = Path(tempfile.mkdtemp(prefix="sb-")) / "r"
            link.symlink_to(temp, target_is_directory=True)
        ray.init(num_cpus=num_cpus or default_workers(), include_dashboard=False, _node_ip_address="127.0.0.1",
                 _temp_dir=str(link or temp), runtime_env=env, log_to_driver=False, logging_level="ERROR",
                 configure_logging=True)
    try:
        yield ray
    finally:
        ray.shutdown()
        if link is not None:
            link.unlink(missing_ok=True)
            link.parent.rmdir()


def run_ray(fn: Callable[[Any], Any], tasks: Sequence[Any], on_done: OnDone, run_dir: Path,
            address: str | None = None, workers: int | None = None) -> None:
    """Run ``fn(task)`` for every task as a Ray task (one CPU each)."""
    with ray_session(run_dir, address, workers) as ray:
        remote = ray.remote(num_cpus=1, max_retries=2)(fn)
        pending = {remote.remote(t): i for i, t in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_done(pending.pop(ref), ray.get(ref))


def check_executor(executor: str, workers: int | None = None, address: str | None = None) -> None:
    """Refuse an unknown executor, a worker count below 1, or an address without Ray."""
    if executor not in EXECUTORS:
        raise ScenarioError(f"--executor {executor!r}: unknown; choose from {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers {workers}: need at least 1")
    if address and executor != "ray":
        raise ScenarioError("--address only applies to --executor ray")


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], on_done: OnDone, executor: str = "local",
              workers: int | None = None, address: str | None = None, run_dir: Path | None = None) -> None:
    """Dispatch to the named executor. Without ``run_dir`` Ray's temp folder is a temporary
    folder removed afterwards."""
    check_executor(executor, workers, address)
    if executor == "local":
        run_local(fn, tasks, on_done, workers)
    elif run_dir is not None:
        run_ray(fn, tasks, on_done, Path(run_dir), address, workers)
    else:
        with tempfile.TemporaryDirectory(prefix="seedbed-") as tmp:
            run_ray(fn, tasks, on_done, Path(tmp), address, workers)
