"""Berth serving wrapper: exposes a generated inference module over HTTP.

Copied into every model image and started as `python3 berth_serve.py` from the
image's working directory. Standard library only; numpy/pandas values are
converted to JSON when the model returns them (they are never imported here).

Endpoints: GET /healthz, GET /readyz, GET /metadata, POST /predict.
Logs: one JSON object per line on stdout ("lifecycle" and "request" types);
tracebacks go to stderr as plain text.
"""

import base64
import collections.abc
import datetime
import decimal
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

EXIT_CONFIG_ERROR = 2
EXIT_LOAD_FAILURE = 3
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUIREMENT_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
BODY_HINT = 'Body must be JSON like {"inputs": ...} or {"instances": [...]}'
CALLER_MAX_CHARS = 256
# What a model raises when the input does not fit it (a missing column, a wrong type or shape): the caller's to fix.
INPUT_ERRORS = (ValueError, TypeError, KeyError)


# --------------------------------------------------------------------------
# Configuration


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    module: str = "berth_model"
    entrypoint: str = "predict"
    model_name: str = ""
    model_version: str = ""
    host: str = "0.0.0.0"
    port: int = 8080
    log_max_chars: int = 2048
    max_body_bytes: int = 10 * 1024 * 1024
    metadata_file: str = ""
    exit_on_load_failure: bool = True
    shutdown_grace_seconds: float = 8.0  # below Docker's default 10 s stop timeout

    @classmethod
    def from_env(cls, env):
        return cls(
            module=env.get("BERTH_MODULE") or cls.module,
            entrypoint=env.get("BERTH_ENTRYPOINT") or cls.entrypoint,
            model_name=env.get("BERTH_MODEL_NAME", ""),
            model_version=env.get("BERTH_MODEL_VERSION", ""),
            host=env.get("BERTH_HOST") or cls.host,
            port=_env_number(env, "PORT", cls.port, int),
            log_max_chars=_env_number(env, "BERTH_LOG_MAX_CHARS", cls.log_max_chars, int),
            max_body_bytes=_env_number(env, "BERTH_MAX_BODY_BYTES", cls.max_body_bytes, int),
            metadata_file=env.get("BERTH_METADATA_FILE", ""),
            exit_on_load_failure=_env_flag(env, "BERTH_EXIT_ON_LOAD_FAILURE", True),
            shutdown_grace_seconds=_env_number(
                env, "BERTH_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds, float
            ),
        )


def _env_number(env, name, default, kind):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {expected}, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _env_flag(env, name, default):
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


# --------------------------------------------------------------------------
# JSON conversion of model outputs


def to_jsonable(value):
    """Return a structure json.dumps accepts; raise TypeError if impossible.

    Non-finite floats become null because NaN/Infinity are not valid JSON and
    break strict clients (browsers, Go, Java).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if _is_pandas_missing(value):
        return None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return to_jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return [to_jsonable(item) for item in _sorted_if_possible(value)]
    converted = _convert_numpy_or_pandas(value)
    if converted is not None:
        return to_jsonable(converted)
    if isinstance(value, collections.abc.Mapping):
        return {_json_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, collections.abc.Iterable):  # list, tuple, generator, range...
        return [to_jsonable(item) for item in value]
    if hasattr(value, "tolist"):  # torch/jax tensors and other array types
        return to_jsonable(value.tolist())
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


def _convert_numpy_or_pandas(value):
    """Plain-Python equivalent of a numpy/pandas object, or None if not one.

    Looks the libraries up in sys.modules: if the model returned such a value
    the library is already imported, so the wrapper never pays for importing it.
    """
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind == "M":
            # datetime64 .item() gives int nanoseconds for ns precision; strings are clearer.
            return np.datetime_as_string(value).tolist()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return value.to_dict(orient="records")
        if isinstance(value, (pd.Series, pd.Index)):
            return value.tolist()
    return None


def _is_pandas_missing(value):
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NaT or value is pd.NA)


def _sorted_if_possible(items):
    # Sorted so the same set always serializes the same way; mixed types can't sort.
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def _json_key(key):
    if not isinstance(key, str):
        key = to_jsonable(key)
    return key if key is None or isinstance(key, (str, int, float, bool)) else str(key)


def truncate(text, limit):
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(truncated {len(text) - limit} chars)"


# --------------------------------------------------------------------------
# Logging


def utc_timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    """Writes one JSON object per line; the lock keeps lines from interleaving."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, record):
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def log_traceback(headline):
    sys.stderr.write(f"[berth] {headline}\n{traceback.format_exc()}")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Model loading state

LOADING, READY, FAILED = "loading", "ready", "failed"


class ModelState:
    def __init__(self):
        self._lock = threading.Lock()
        self._status = LOADING
        self._func = None
        self._error = None

    def snapshot(self):
        with self._lock:
            return self._status, self._func, self._error

    def set_ready(self, func):
        with self._lock:
            self._status, self._func = READY, func

    def set_failed(self, error):
        with self._lock:
            self._status, self._error = FAILED, error


def import_entrypoint(module_name, entrypoint):
    # The generated module lives in the working directory (/app in the image).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    module = importlib.import_module(module_name)
    func = getattr(module, entrypoint, None)
    if func is None:
        available = sorted(
            name for name, obj in vars(module).items()
            if callable(obj) and not name.startswith("_")
        )
        raise AttributeError(
            f"module {module_name!r} has no function {entrypoint!r} "
            f"(callables found: {', '.join(available) or 'none'})"
        )
    if not callable(func):
        raise TypeError(f"{module_name}.{entrypoint} is a {type(func).__name__}, not a function")
    return func


# --------------------------------------------------------------------------
# Application (state shared by all request threads)


def read_metadata_file(path):
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def declared_package_names(metadata):
    """Names from metadata["packages"]: ["numpy==1.26.4", ...] or {"numpy": "1.26.4"}."""
    packages = metadata.get("packages") if isinstance(metadata, dict) else None
    if isinstance(packages, dict):
        return list(packages)
    if isinstance(packages, list):
        matches = (REQUIREMENT_NAME_RE.match(str(item)) for item in packages)
        return [m.group(1) for m in matches if m]
    return None


def top_level_modules():
    return {name for name in list(sys.modules) if "." not in name}


def distribution_names(modules):
    # packages_distributions needs Python >= 3.10; older images rely on the metadata file.
    finder = getattr(importlib.metadata, "packages_distributions", None)
    if finder is None:
        return []
    by_module = finder()
    return sorted({dist for module in modules for dist in by_module.get(module, ())})


def installed_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class App:
    def __init__(self, config, log):
        self.config = config
        self.log = log
        self.state = ModelState()
        self.started_at = utc_timestamp()
        self.stop_requested = threading.Event()
        self.exit_code = 0
        self.metadata = self._load_metadata()
        self._probe_lock = threading.Lock()
        self._last_probe_status = {}
        self._packages = None
        # Modules present before the model loads belong to Python/site hooks, not the model.
        self._baseline_modules = top_level_modules()

    def _load_metadata(self):
        try:
            return read_metadata_file(self.config.metadata_file)
        except (OSError, ValueError) as exc:
            # Missing metadata must not take the model down; say so and carry on.
            self.lifecycle("metadata_unreadable", path=self.config.metadata_file,
                           error=f"{type(exc).__name__}: {exc}")
            return None

    def lifecycle(self, event, **fields):
        self.log.emit({
            "type": "lifecycle", "ts": utc_timestamp(), "event": event,
            "model": self.config.model_name, "model_version": self.config.model_version,
            **fields,
        })

    def load_model(self):
        """Runs once, in a background thread, so probes answer while loading."""
        config = self.config
        self.lifecycle("loading", module=config.module, entrypoint=config.entrypoint)
        started = time.monotonic()
        try:
            func = import_entrypoint(config.module, config.entrypoint)
        except BaseException as exc:  # SystemExit from notebook code is a failure too
            self._load_failed(exc, time.monotonic() - started)
            return
        self.state.set_ready(func)
        self.lifecycle("ready", load_seconds=round(time.monotonic() - started, 3))

    def _load_failed(self, exc, seconds):
        error = f"{type(exc).__name__}: {exc}"
        log_traceback(f"loading {self.config.module}.{self.config.entrypoint} failed")
        self.state.set_failed(error)
        self.lifecycle("load_failed", error=error, load_seconds=round(seconds, 3))
        if self.config.exit_on_load_failure:
            # Exit so the container restart policy (or orchestrator) takes over.
            self.exit_code = EXIT_LOAD_FAILURE
            self.stop_requested.set()

    def packages(self):
        if self._packages is not None:
            return self._packages
        names = declared_package_names(self.metadata)
        if names is None:
            names = distribution_names(top_level_modules() - self._baseline_modules)
        packages = {name: installed_version(name) for name in names}
        if self.state.snapshot()[0] == READY:  # imports only settle once loaded
            self._packages = packages
        return packages

    def should_log_probe(self, path, status):
        """Probes are polled constantly: log them only when their answer changes."""
        with self._probe_lock:
            changed = self._last_probe_status.get(path) != status
            self._last_probe_status[path] = status
            return changed


# --------------------------------------------------------------------------
# HTTP layer


class HttpError(Exception):
    def __init__(self, status, kind, message, headers=None, detail=None):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.headers = headers or {}
        self.detail = detail


def input_error(message):
    """422: the body is JSON but not an input the model can take; `detail` is the message alone."""
    return HttpError(422, "InputError", message, detail=message)


@dataclass
class Reply:
    status: int
    payload: dict
    headers: dict = None
    output: str = None  # serialized predictions, for the request log
    error: str = None


ROUTES = {
    "/healthz": ("GET", "_healthz"),
    "/readyz": ("GET", "_readyz"),
    "/metadata": ("GET", "_metadata"),
    "/predict": ("POST", "_predict"),
}
PROBES = ("/healthz", "/readyz")


def pick_request_id(incoming):
    if incoming and REQUEST_ID_RE.match(incoming):
        return incoming
    return uuid.uuid4().hex


def normalize_path(raw_path):
    path = urlsplit(raw_path).path
    return path.rstrip("/") or "/"


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-serve/1"
    sys_version = ""
    timeout = 30  # seconds; a stalled client must not pin a thread forever
    # Keep-alive lets the gateway reuse connections, and without Nagle a small reply is not held back ~40 ms.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # routing checks the method

    def log_message(self, format, *args):
        pass  # replaced by our JSON request log

    def log_error(self, format, *args):
        sys.stderr.write(f"[berth] {format % args}\n")

    @property
    def app(self):
        return self.server.app

    def _dispatch(self):
        started = time.perf_counter()
        self.request_id = pick_request_id(self.headers.get("X-Request-Id"))
        self.path_only = normalize_path(self.path)
        self.log_input = None
        try:
            reply = self._route()
        except HttpError as exc:
            reply = self._error_reply(exc.status, exc.kind, exc.message, exc.headers, exc.detail)
        except Exception:
            log_traceback(f"request {self.request_id}: internal error")
            reply = self._error_reply(500, "InternalError", "Unexpected error in the Berth server")
        self._send(reply)
        self._log_request(reply, (time.perf_counter() - started) * 1000)

    def _route(self):
        route = ROUTES.get(self.path_only)
        if route is None:
            available = ", ".join(f"{m} {p}" for p, (m, _) in ROUTES.items())
            raise HttpError(404, "NotFound",
                            f"No endpoint {self.command} {self.path_only}. Available: {available}")
        method, handler_name = route
        if self.command != method:
            raise HttpError(405, "MethodNotAllowed",
                            f"{self.path_only} only accepts {method}, got {self.command}",
                            {"Allow": method})
        return getattr(self, handler_name)()

    def _error_reply(self, status, kind, message, headers=None, detail=None):
        payload = {"error": {"kind": kind, "message": message}, "request_id": self.request_id}
        if detail is not None:
            payload["detail"] = detail
        return Reply(status, payload, headers=headers, error=message)

    def _send(self, reply):
        body = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-Id", self.request_id)
            for name, value in (reply.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # client went away; the request log still records what happened

    def _log_request(self, reply, latency_ms):
        if self.path_only in PROBES and not self.app.should_log_probe(self.path_only, reply.status):
            return
        config = self.app.config
        limit = config.log_max_chars
        caller = self.headers.get("X-Berth-Caller")
        self.app.log.emit({
            "type": "request",
            "ts": utc_timestamp(),
            "request_id": self.request_id,
            "method": self.command,
            "path": self.path_only,
            "status": reply.status,
            "latency_ms": round(latency_ms, 3),
            "model": config.model_name,
            "model_version": config.model_version,
            "caller": caller[:CALLER_MAX_CHARS] if caller else None,
            "input": truncate(self.log_input, limit) if self.log_input is not None else None,
            "output": truncate(reply.output, limit) if reply.output is not None else None,
            "error": reply.error,
        })

    # -- endpoints ----------------------------------------------------------

    def _healthz(self):
        return Reply(200, {"status": "alive"})

    def _readyz(self):
        status, _, error = self.app.state.snapshot()
        if status == READY:
            return Reply(200, {"status": READY})
        if status == LOADING:
            return Reply(503, {"status": LOADING}, headers={"Retry-After": "1"})
        return Reply(503, {"status": FAILED, "error": error}, error=error)

    def _metadata(self):
        app, config = self.app, self.app.config
        status = app.state.snapshot()[0]
        return Reply(200, {
            "model_name": config.model_name,
            "model_version": config.model_version,
            "module": config.module,
            "entrypoint": config.entrypoint,
            "status": status,
            "python_version": platform.python_version(),
            "packages": app.packages(),
            "started_at": app.started_at,
            "metadata": app.metadata,
        })

    def _predict(self):
        body = self._read_body()
        model_input = self._parse_predict_body(body)
        func = self._ready_entrypoint()
        try:
            result = func(model_input)
        except INPUT_ERRORS as exc:
            log_traceback(f"request {self.request_id}: model refused the input")
            raise HttpError(422, "InputError", f"{type(exc).__name__}: {exc}", detail=model_message(exc)) from None
        except (Exception, SystemExit) as exc:  # notebooks sometimes call sys.exit()
            log_traceback(f"request {self.request_id}: model raised")
            raise HttpError(500, "ModelError", f"{type(exc).__name__}: {exc}") from None
        predictions, output = self._serialize(result)
        payload = {
            "predictions": predictions,
            "model_version": self.app.config.model_version,
            "request_id": self.request_id,
        }
        return Reply(200, payload, output=output)

    # -- /predict helpers ---------------------------------------------------

    def _read_body(self):
        length = self._content_length()
        limit = self.app.config.max_body_bytes
        if length > limit:
            self._discard_body(length)
            raise HttpError(413, "PayloadTooLarge",
                            f"Body is {length} bytes; the limit is {limit} bytes "
                            "(BERTH_MAX_BODY_BYTES). Send fewer instances per request.",
                            {"Connection": "close"})
        body = self.rfile.read(length)  # read even if rejected below, to avoid a reset
        content_type = self.headers.get("Content-Type")
        if content_type is not None and not _is_json_media_type(content_type):
            self.log_input = body.decode("utf-8", errors="replace")
            raise HttpError(400, "BadRequest",
                            f"Content-Type must be application/json, got {content_type!r}. "
                            + BODY_HINT)
        return body

    def _content_length(self):
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise HttpError(411, "LengthRequired",
                            "Content-Length header is required. " + BODY_HINT)
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            raise HttpError(400, "BadRequest", f"Invalid Content-Length {raw!r}")
        return length

    def _discard_body(self, length):
        # Read what the client sends before answering: closing a socket with unread
        # data resets the connection and the client would never see our 413.
        # Bounded so a huge upload can't keep the thread busy for long.
        remaining = min(length, 2 * self.app.config.max_body_bytes + 65536)
        if remaining < length:
            self.close_connection = True  # the rest of the body is still on the wire: this connection can't be reused
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)

    def _parse_predict_body(self, body):
        self.log_input = body.decode("utf-8", errors="replace")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise HttpError(400, "BadRequest", f"Body is not valid JSON ({exc}). " + BODY_HINT)
        if not isinstance(document, dict):
            raise input_error(f"Body is a JSON {type(document).__name__}, not an object. " + BODY_HINT)
        has_inputs, has_instances = "inputs" in document, "instances" in document
        if has_inputs == has_instances:
            problem = "both" if has_inputs else "neither"
            raise input_error(f'Body has {problem} of "inputs" and "instances"; send exactly one. ' + BODY_HINT)
        if has_instances and not isinstance(document["instances"], list):
            raise input_error('"instances" must be a JSON array. ' + BODY_HINT)
        model_input = document["inputs"] if has_inputs else document["instances"]
        self.log_input = json.dumps(model_input, ensure_ascii=False)
        return model_input

    def _ready_entrypoint(self):
        status, func, error = self.app.state.snapshot()
        if status == READY:
            return func
        if status == LOADING:
            raise HttpError(503, "NotReady",
                            "Model is still loading; retry when GET /readyz returns 200",
                            {"Retry-After": "1"})
        raise HttpError(503, "NotReady", f"Model failed to load: {error}")

    def _serialize(self, result):
        try:
            predictions = to_jsonable(result)
            return predictions, json.dumps(predictions, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            log_traceback(f"request {self.request_id}: output not serializable")
            raise HttpError(500, "SerializationError",
                            f"Model returned a value that cannot be converted to JSON: {exc}") from None


def model_message(exc):
    """The model's own words: a KeyError's message is the missing key, shown without repr quotes."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return f"missing key {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def _is_json_media_type(content_type):
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class BerthHTTPServer(ThreadingHTTPServer):
    """Threaded server that knows how many connections are still being served."""

    daemon_threads = True  # we wait for in-flight work ourselves, with a deadline
    # socketserver's default backlog is 5: a burst of new gateway connections overflowed it, and the kernel reset
    # connections the gateway had already written a request to (502, never replayed). The kernel caps this at somaxconn.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, address, handler, app):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self._active = 0
        self._idle = threading.Condition()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        # Counted here (serve_forever's thread), so nothing accepted before
        # shutdown() returns can be missed by wait_idle().
        with self._idle:
            self._active += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout):
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout)
            return self._active


# --------------------------------------------------------------------------
# Process lifecycle


def run(config, log):
    app = App(config, log)
    try:
        server = BerthHTTPServer((config.host, config.port), Handler, app)
    except OSError as exc:
        sys.stderr.write(f"[berth] cannot listen on {config.host}:{config.port}: {exc}\n")
        return EXIT_CONFIG_ERROR
    received = []

    def request_stop(signum, _frame):
        # No logging here: the main thread may be inside JsonLog.emit holding its lock.
        received.append(signal.Signals(signum).name)
        app.stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                     name="berth-http", daemon=True).start()
    app.lifecycle("listening", host=config.host, port=server.server_address[1])
    threading.Thread(target=app.load_model, name="berth-loader", daemon=True).start()

    # Wait with a timeout so signal handlers run promptly in the main thread.
    while not app.stop_requested.wait(0.5):
        pass

    app.lifecycle("stopping", reason=received[0] if received else "load_failed")
    server.shutdown()       # stop accepting; in-flight requests keep running
    server.server_close()
    abandoned = server.wait_idle(config.shutdown_grace_seconds)
    app.lifecycle("stopped", exit_code=app.exit_code, abandoned_requests=abandoned)
    return app.exit_code


def main():
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"[berth] configuration error: {exc}\n")
        return EXIT_CONFIG_ERROR
    return run(config, JsonLog(sys.stdout))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: don't let a model's daemon threads or atexit hooks delay the stop.
    os._exit(code)
