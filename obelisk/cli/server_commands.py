"""``obelisk server ...``: each command returns an exit code and prints one clear line on a user error."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from obelisk.concepts.errors import ObeliskError

log = logging.getLogger("obelisk")


class ServerStartFailed(ObeliskError):
    pass


def _fail(error: BaseException) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_server(config_path: Path | None, *, on_ready: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; ``on_ready`` runs once the server is started, before ``Server is ready``."""
    # Before grpc is imported: its core would print an unformatted line for every failed TLS handshake (a
    # plaintext client, a missing client certificate), outside the log's level and format.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from obelisk.config import load_config
    from obelisk.log_sinks import install_log_sinks

    try:
        loaded = load_config(config_path)
        config = loaded.config
        _start_artifact_checks(config)
        install_log_sinks(config.log)
    except ObeliskError as error:
        return _fail(error)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    import uvloop

    try:
        uvloop.run(_serve(config, on_ready))
    except ObeliskError as error:
        return _fail(error)
    return 0


def _start_artifact_checks(config: object) -> None:
    """Hash the cached compiled components on another core while the server's modules import (~0.15 s), so
    checking them before they are loaded costs a start-up almost nothing (``obelisk.wasm.cache_files``)."""
    from obelisk.config import ObeliskConfig
    from obelisk.wasm.cache_files import start_checks

    assert isinstance(config, ObeliskConfig)
    cache_dir = config.codegen_cache.directory if config.codegen_cache.enabled else None
    components = [*config.activity_wasm, *config.workflow, *config.webhook_endpoint]
    start_checks(cache_dir, [c.location.path for c in components if c.location.path is not None])


async def _serve(config: object, on_ready: Callable[[], None] | None) -> None:
    from obelisk.config import ObeliskConfig
    from obelisk.database import describe
    from obelisk.server import Server

    assert isinstance(config, ObeliskConfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        server = await Server.start(config)
    except OSError as error:  # a data directory or file that cannot be created or written
        raise ServerStartFailed(f"the server cannot start: {error}") from error
    if on_ready is not None:
        on_ready()
    print(f"Server is ready, {describe(config)}", flush=True)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await server.stop()
    log.info("stopped")


def verify_config(config_path: Path | None, *, ignore_missing_env_vars: bool) -> int:
    """Load the config, check that the database can be used and that the TLS files can, and compile and
    link-check every component; one line on the first problem. With ``ignore_missing_env_vars`` an unset
    ``${NAME}`` of the database's keys skips the database check (said in a line) instead of failing, and the
    secrets are not read."""
    from obelisk.api.tls import load_listener_tls
    from obelisk.config import load_config
    from obelisk.database import database_problem, describe
    from obelisk.server import prepare_components, wasm_engine

    configure_logging("WARNING")
    try:
        loaded = load_config(config_path, ignore_missing_env_vars=ignore_missing_env_vars)
    except ObeliskError as error:
        return _fail(error)
    config = loaded.config
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    unset = [entry for entry in loaded.missing_env_vars if entry.startswith("database.")]
    if unset:
        print(f"Database not checked: environment variables not set here ({'; '.join(unset)})")
    else:
        problem = asyncio.run(database_problem(config))
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        print(f"Database: {describe(config)}")
    try:
        load_listener_tls(config)
        engine = wasm_engine(config)
        prepared = prepare_components(config, engine, os.environ, ignore_missing_env_vars=ignore_missing_env_vars)
        if config.outbound_http is not None and ignore_missing_env_vars:
            print("Secrets not checked (--ignore-missing-env-vars)")
        elif config.outbound_http is not None:
            from obelisk.wasm.wasi_http.policy import load_operator_policy

            load_operator_policy(config.outbound_http, config.secrets, os.environ)  # reads them as a start would
    except ObeliskError as error:
        return _fail(error)
    for component in prepared.registry.components:
        print(f"{component.name}\t{component.component_id}")
        for function in component.exports:
            print(f"\t{function}")
    print("Configuration is valid.")
    return 0


def generate_config(path: Path) -> int:
    from obelisk.config import write_sample_config

    try:
        write_sample_config(path)
    except ObeliskError as error:
        return _fail(error)
    except FileNotFoundError:
        print(f"error: cannot write {path}: the folder {path.parent} does not exist", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"Generated {path}")
    return 0
