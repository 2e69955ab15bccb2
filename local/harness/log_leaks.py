"""No prompt and no file name in any log line (issue 34): what the functions log, checked while the tests
run, as aws_calls.py records their AWS calls.

Two recordings, in the test session and in every sandbox of the local services it starts (each process
appends to `$MEDIAGEN_LOG_LEAKS/<pid>.jsonl`):
- the people's words as they arrive: every prompt of a generate request and of a completion webhook
  (`original_prompt`), and every file a webhook names (its key, the key's file name, its description),
  taken from the body at the one place each is parsed (`model_validate` of GenerateRequest and
  CompletionWebhook), before validation, so a refused prompt counts too;
- every line the functions' logger writes (Powertools' JSON formatter: what reaches CloudWatch), and
  every record of the local stack's logger, with its traceback.

`leaks()` says which recorded lines carry a recorded text; tests/conftest.py fails each test whose lines
do. A text shorter than MIN_LENGTH characters, or without a letter, is not recorded: "x", "prompt" or
"0.png" would match lines that never saw them (the tests' real prompts are longer; see MIN_LENGTH).
"""

import functools
import json
import logging
import os
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VARIABLE = "MEDIAGEN_LOG_LEAKS"
# "Un phare" (8) is the shortest prompt the tests use for a real job; shorter ones are single letters
# and words ("x", "Mine", "prompt") that ordinary lines contain.
MIN_LENGTH = 8
OTHER_LOGGER = "local-stack"
_state: dict[str, Any] = {"installed": False, "pid": None, "seen": set(), "directory": None}
_lock = threading.Lock()


@dataclass(frozen=True)
class Leak:
    what: str  # "prompt" or "file name"
    text: str
    line: str


def _recordable(text: Any) -> bool:
    return isinstance(text, str) and len(text.strip()) >= MIN_LENGTH and any(ch.isalpha() for ch in text)


def _write(entry: dict[str, str]) -> None:
    directory = os.environ.get(VARIABLE) or _state["directory"]
    if not directory:
        return
    with _lock:
        if _state["pid"] != os.getpid():  # a forked process writes its own file
            _state.update(pid=os.getpid(), seen=set())
        if "text" in entry:  # each text once per process and directory; every line
            key = (directory, entry["text"])
            if key in _state["seen"]:
                return
            _state["seen"].add(key)
        with (Path(directory) / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")  # ASCII: a lone surrogate is written escaped


def _record_text(what: str, text: Any) -> None:
    if _recordable(text):
        _write({"what": what, "text": text})


def _record_line(line: str) -> None:
    _write({"line": line})


# --- the people's words, where they arrive -------------------------------------------------------------


def words_of_request(document: Any) -> Iterator[tuple[str, Any]]:
    """("prompt", text) and ("file name", text) pairs of a generate request or a completion webhook's
    body, as sent (nothing validated yet)."""
    if not isinstance(document, dict):
        return
    yield "prompt", document.get("prompt")
    data = document.get("data")
    if not isinstance(data, dict):
        return
    yield "prompt", data.get("original_prompt")
    for kind in ("images", "videos"):
        files = data.get(kind)
        for media in files if isinstance(files, list) else ():
            if not isinstance(media, dict):
                continue
            yield "prompt", media.get("description")
            for key in (media.get("file_path"), media.get("thumbnail_path")):
                if isinstance(key, str):
                    yield "file name", key
                    yield "file name", key.rstrip("/").rsplit("/", 1)[-1]


def _record_words(document: Any) -> None:
    if isinstance(document, (str, bytes, bytearray)):
        try:
            document = json.loads(document)
        except ValueError:
            return
    for what, text in words_of_request(document):
        _record_text(what, text)


def _watch_model(model: Any) -> None:
    """Record the words of every body `model` validates (a Python object or JSON text)."""
    for name in ("model_validate", "model_validate_json"):
        original = getattr(model, name)

        def watched(cls: Any, document: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                _record_words(document)
            except Exception:  # a recorder must never change what the code answers
                logging.getLogger("local-stack").exception("log_leaks: a body's words not recorded")
            return _original(document, *args, **kwargs)

        setattr(model, name, classmethod(functools.wraps(original)(watched)))


# --- the lines ---------------------------------------------------------------------------------------


class _RecordOtherLoggers(logging.Handler):
    """The records of this code's other logger (the local stack's, "local-stack": a sandbox's failures),
    as a handler would write them: message, extra fields, traceback. Not the libraries' (moto's server
    logs each S3 request's path as S3's own access log would: the stand-in's, not ours)."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extra = {k: v for k, v in vars(record).items() if k not in self._STANDARD}
            parts = [record.getMessage(), json.dumps(extra, default=str, ensure_ascii=False)]
            if record.exc_info:
                parts.append("".join(traceback.format_exception(*record.exc_info)))
            _record_line(" ".join(parts))
        except Exception:  # a recorder must never break the code it watches
            self.handleError(record)


def install(directory: str | Path | None = None) -> None:
    """Record from now on, in this process (and the processes it forks), to `directory` (default: the
    `MEDIAGEN_LOG_LEAKS` directory). Idempotent."""
    if directory is not None:
        _state["directory"] = str(directory)
    if _state["installed"]:
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from mediagen.contract.payloads import CompletionWebhook, GenerateRequest

    for model in (GenerateRequest, CompletionWebhook):
        _watch_model(model)

    format_line = LambdaPowertoolsFormatter.format

    @functools.wraps(format_line)
    def format_and_record(self: Any, record: logging.LogRecord) -> str:
        line = format_line(self, record)
        _record_line(line)
        return line

    LambdaPowertoolsFormatter.format = format_and_record  # type: ignore[method-assign]
    logging.getLogger(OTHER_LOGGER).addHandler(_RecordOtherLoggers())
    _state["installed"] = True


def install_from_environment() -> None:
    """In a sandbox process: record when the environment names a directory (the tests do)."""
    directory = os.environ.get(VARIABLE)
    if directory:
        install(directory)


# --- the check -----------------------------------------------------------------------------------------


class Reader:
    """Reads what every process recorded under `directory`, each file from where the last read stopped."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.offsets: dict[Path, int] = {}
        self.texts: dict[str, str] = {}  # text -> what
        self._by_head: dict[str, list[str]] = {}

    def read(self) -> list[str]:
        """The lines recorded since the last read (the texts recorded are kept)."""
        lines: list[str] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            with path.open("rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
            self.offsets[path] = self.offsets.get(path, 0) + len(complete)
            for raw in complete.decode("utf-8", "replace").split("\n")[:-1]:
                entry = json.loads(raw)
                if "line" in entry:
                    lines.append(entry["line"])
                elif entry["text"] not in self.texts:
                    self.texts[entry["text"]] = entry["what"]
                    self._by_head.setdefault(entry["text"][:MIN_LENGTH], []).append(entry["text"])
        return lines

    def leaks(self, lines: Iterable[str]) -> list[Leak]:
        """The lines that carry a recorded text: as written, or once its JSON is decoded (escapes)."""
        found = []
        for line in lines:
            for view in (line, *_decoded_strings(line)):
                text = self._carried(view)
                if text is not None:
                    found.append(Leak(self.texts[text], text, line))
                    break
        return found

    def _carried(self, view: str) -> str | None:
        # Every recorded text is at least MIN_LENGTH long: look its head up at each position of the line.
        for start in range(len(view) - MIN_LENGTH + 1):
            for text in self._by_head.get(view[start : start + MIN_LENGTH], ()):
                if view.startswith(text, start):
                    return text
        return None


def _decoded_strings(line: str) -> list[str]:
    try:
        document = json.loads(line)
    except ValueError:
        return []
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return found


def describe(leaks: list[Leak]) -> str:
    shown = [f"- a {leak.what} ({leak.text[:60]!r}) in: {leak.line[:400]}" for leak in leaks[:10]]
    more = f"\n... and {len(leaks) - 10} more" if len(leaks) > 10 else ""
    return "A log line carries what a person wrote or named:\n" + "\n".join(shown) + more
