"""A one-line progress display on stderr for terminal users (never for cron jobs or pipes)."""

from __future__ import annotations

import threading
import time
from typing import IO


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


class Progress:
    """Redraws ``spoo-export: <phase> <bytes> <seconds>`` a few times a second, on a TTY only."""

    def __init__(self, stream: IO[str], *, enabled: bool | None = None, interval: float = 0.1):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.phase = "starting"
        self.bytes = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="spoo-export-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._clear()

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def add_bytes(self, count: int) -> None:
        self.bytes += count

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _line(self) -> str:
        size = f" {human_bytes(self.bytes)}" if self.bytes else ""
        return f"spoo-export: {self.phase}...{size} {self.elapsed():.1f}s"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self.stream.write("\r\x1b[K" + self._line())
                self.stream.flush()

    def _clear(self) -> None:
        with self._lock:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def done(self, message: str) -> None:
        """A closing line for terminal users; silent otherwise (cron mails any output)."""
        if self.enabled:
            self.stream.write(message + "\n")
            self.stream.flush()
