"""Progress on stderr (stdout carries the report): a tqdm bar on a terminal (rows read, items
written, rate, ETA); plain lines every few seconds otherwise (CI logs, `| tee`)."""

import sys
import threading
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    def __init__(self, total_rows: int, *, stream: TextIO = sys.stderr, every_seconds: float = 10.0) -> None:
        self.total = total_rows
        self.stream = stream
        self.every = every_seconds
        self.rows = 0
        self.items = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: tqdm[None] | None = None
        if stream.isatty():
            self._bar = tqdm(
                total=total_rows,
                unit=" rows",
                desc="migrating",
                file=stream,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def read(self, n: int = 1) -> None:
        self.rows += n
        if self._bar is not None:
            self._bar.update(n)
            if self.rows % 200 == 0:
                self._bar.set_postfix(items_written=self.items, refresh=False)
        elif time.monotonic() - self._last_line >= self.every:
            self._line()

    def written(self, n: int = 1) -> None:
        with self._lock:
            self.items += n

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(items_written=self.items, refresh=False)
            self._bar.close()
        else:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self._last_line = now
        elapsed = max(now - self._started, 1e-9)
        rate = self.rows / elapsed
        eta = (
            f", ETA {max(self.total - self.rows, 0) / rate:.0f} s"
            if rate > 0 and self.rows < self.total
            else ""
        )
        print(
            f"migrate: {self.rows}/{self.total} rows read, {self.items} items written, "
            f"{rate:.0f} rows/s, {elapsed:.0f} s{eta}",
            file=self.stream,
            flush=True,
        )
