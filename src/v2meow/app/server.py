"""Start the page on a host and port, and keep it up until Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from v2meow.errors import ConfigError

MAX_QUEUE = 32  # waiting Generate requests; more get "queue full" in the page


def launch(demo, host: str, port: int, max_upload_mb: float = 500.0) -> str:
    """Queue the work (one generation at a time) and serve `demo`; return the local URL.

    Gradio refuses uploads over `max_upload_mb` while they arrive (the job checks again).
    """
    from v2meow.app.ui import CSS, theme

    demo.queue(default_concurrency_limit=1, max_size=MAX_QUEUE)
    try:
        _, url, _ = demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            share=False,
            inbrowser=False,
            show_error=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            theme=theme(),
            css=CSS,
            max_file_size=int(max_upload_mb * 1e6),
        )
    except OSError:  # Gradio's message names its own environment variables; ours names the option
        raise ConfigError(
            f"cannot serve on {host}:{port}: the port is in use or not allowed here; pick another --port"
        ) from None
    return url


def wait_for_stop(on_stop: Callable[[], None]) -> None:
    """Block until SIGINT or SIGTERM, then call `on_stop` (previous handlers are restored)."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        on_stop()
