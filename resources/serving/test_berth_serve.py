"""End-to-end tests for berth_serve.py: each test talks to a real subprocess.

Run from the repo root:
    /usr/bin/python3 -m unittest discover -s resources/serving -p 'test_*.py'
"""

import base64
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

SERVE_SCRIPT = Path(__file__).resolve().parent / "berth_serve.py"
TIMEOUT = 10.0  # upper bound for every wait in this file
HAS_NUMPY = importlib.util.find_spec("numpy") is not None
HAS_PANDAS = importlib.util.find_spec("pandas") is not None
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
BODY_HINT = 'Body must be JSON like {"inputs": ...} or {"instances": [...]}'

# The inference module under test; behaviour is picked by the input value and
# by TEST_* environment variables so one file covers every scenario.
MODEL_SOURCE = textwrap.dedent('''
    import datetime, decimal, os, sys, time
    from pathlib import Path

    time.sleep(float(os.environ.get("TEST_LOAD_DELAY", "0")))
    if os.environ.get("TEST_IMPORT_NUMPY"):
        import numpy
    if os.environ.get("TEST_LOAD_FAIL"):
        raise RuntimeError("boom while loading weights")

    def helper():
        pass

    def predict(x):
        if x == "raise":
            raise RuntimeError("the model broke")
        if x == "bad value":
            raise ValueError("bad value for the model")
        if x == "no features":
            raise KeyError("features")
        if x == "wrong type":
            raise TypeError("expected a list of rows, got a str")
        if x == "exit":
            sys.exit(1)
        if x == "slow":
            Path(os.environ["TEST_MARKER"]).write_text("started")
            time.sleep(float(os.environ.get("TEST_SLOW_SECONDS", "2")))
            return "slow done"
        if x == "big":
            return "y" * 500
        if x == "nan":
            return [float("nan"), float("inf"), 1.5]
        if x == "unserializable":
            return object()
        if x == "misc":
            return {
                "set": {3, 1, 2},
                "tuple": (1, "a"),
                "datetime": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
                "date": datetime.date(2024, 5, 6),
                "decimal": decimal.Decimal("1.25"),
                "bytes": b"hi",
                "int_keys": {1: "one"},
            }
        if x == "numpy":
            import numpy as np
            return {
                "array": np.array([[1, 2], [3, 4]]),
                "float32": np.float32(1.5),
                "int64": np.int64(7),
                "bool": np.bool_(True),
                "nan": np.float64("nan"),
                "datetime": np.datetime64("2024-05-06T07:08:09", "ns"),
            }
        if x == "pandas":
            import pandas as pd
            frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
            return {
                "frame": frame,
                "series": pd.Series([0.5, 1.5]),
                "timestamp": pd.Timestamp("2024-05-06T07:08:09"),
                "nat": pd.NaT,
            }
        return {"echo": x}
''')


# --------------------------------------------------------------------------
# Helpers


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self):
        return f"Response({self.status}, {self.body!r})"


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, json.loads(data) if data else None)
    finally:
        conn.close()


def post_json(port, payload, headers=None, path="/predict"):
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return request(port, "POST", path, json.dumps(payload).encode(), all_headers)


def wait_until(predicate, timeout=TIMEOUT, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class ServerProcess:
    """berth_serve.py in a subprocess, with its stdout parsed as JSON lines."""

    def __init__(self, workdir, wait_listening=True, **env):
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("BERTH_", "TEST_")) and k != "PORT"}
        clean.update({
            "BERTH_HOST": "127.0.0.1", "PORT": "0",  # port 0: OS picks a free port
            "BERTH_MODEL_NAME": "churn", "BERTH_MODEL_VERSION": "7",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        clean.update({k: str(v) for k, v in env.items()})
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE_SCRIPT)], cwd=workdir, env=clean,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.records, self.non_json, self.stderr_lines = [], [], []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = self.wait_for(lambda r: r.get("event") == "listening")["port"] \
            if wait_listening else None

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8")
            with self._cond:
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    self.non_json.append(line)
                self._cond.notify_all()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._cond:
                self.stderr_lines.append(raw.decode("utf-8", "replace"))

    def wait_for(self, predicate, timeout=TIMEOUT):
        def find():
            return next((r for r in self.records if predicate(r)), None)
        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None or self.proc.poll() is not None,
                                       timeout):
                raise AssertionError(f"no matching log line within {timeout} s: {self.records}")
            found = find()
        if found is None:
            raise AssertionError(f"server exited ({self.proc.returncode}) before the log line: "
                                 f"{self.records} {self.stderr_text()}")
        return found

    def request_log(self, request_id):
        return self.wait_for(lambda r: r.get("type") == "request"
                             and r.get("request_id") == request_id)

    def lifecycle_events(self):
        with self._cond:
            return [r["event"] for r in self.records if r.get("type") == "lifecycle"]

    def stderr_text(self):
        with self._cond:
            return "".join(self.stderr_lines)

    def wait_ready(self):
        wait_until(lambda: request(self.port, "GET", "/readyz").status == 200)

    def wait_exit(self, timeout=TIMEOUT):
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(TIMEOUT)
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        self.proc.stdout.close()
        self.proc.stderr.close()


def make_workdir(test_case):
    workdir = tempfile.mkdtemp(prefix="berth-serve-test-")
    test_case.addCleanup(shutil.rmtree, workdir, True)
    Path(workdir, "berth_model.py").write_text(MODEL_SOURCE)
    return workdir


def start_server(test_case, **env):
    server = ServerProcess(make_workdir(test_case), **env)
    test_case.addCleanup(server.stop)
    return server


# --------------------------------------------------------------------------
# One shared, ready server for the request/response behaviour


class ServingTests(unittest.TestCase):
    LOG_MAX_CHARS = 100
    MAX_BODY_BYTES = 4096
    METADATA = {
        "packages": ["numpy==0.0.1", "not-a-real-package-xyz==1.0"],
        "notebook_sha256": "abc123",
    }

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="berth-serve-test-")
        Path(cls.workdir, "berth_model.py").write_text(MODEL_SOURCE)
        metadata_path = Path(cls.workdir, "berth_metadata.json")
        metadata_path.write_text(json.dumps(cls.METADATA))
        cls.server = ServerProcess(
            cls.workdir,
            BERTH_LOG_MAX_CHARS=cls.LOG_MAX_CHARS,
            BERTH_MAX_BODY_BYTES=cls.MAX_BODY_BYTES,
            BERTH_METADATA_FILE=metadata_path,
        )
        try:
            cls.server.wait_ready()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def predict(self, payload, **headers):
        return post_json(self.port, payload, headers)

    def assertError(self, resp, status, kind, *message_parts):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.body["error"]["kind"], kind)
        for part in message_parts:
            self.assertIn(part, resp.body["error"]["message"])
        self.assertEqual(resp.body["request_id"], resp.headers["X-Request-Id"])
        self.assertEqual(resp.headers["Content-Type"], "application/json; charset=utf-8")

    # -- probes and routing -------------------------------------------------

    def test_healthz_and_readyz(self):
        self.assertEqual(request(self.port, "GET", "/healthz").body, {"status": "alive"})
        resp = request(self.port, "GET", "/readyz")
        self.assertEqual((resp.status, resp.body), (200, {"status": "ready"}))

    def test_unknown_path_is_404(self):
        resp = request(self.port, "GET", "/nope")
        self.assertError(resp, 404, "NotFound", "GET /nope", "POST /predict")

    def test_wrong_method_is_405(self):
        resp = request(self.port, "GET", "/predict")
        self.assertError(resp, 405, "MethodNotAllowed", "only accepts POST")
        self.assertEqual(resp.headers["Allow"], "POST")
        resp = request(self.port, "POST", "/readyz", b"{}")
        self.assertError(resp, 405, "MethodNotAllowed")
        self.assertEqual(resp.headers["Allow"], "GET")

    # -- predict ------------------------------------------------------------

    def test_inputs_passed_unchanged(self):
        resp = self.predict({"inputs": {"age": [31, 40], "plan": "pro"}})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body["predictions"], {"echo": {"age": [31, 40], "plan": "pro"}})
        self.assertEqual(resp.body["model_version"], "7")
        self.assertEqual(resp.body["request_id"], resp.headers["X-Request-Id"])

    def test_instances_passed_as_list(self):
        resp = self.predict({"instances": [[1, 2], [3, 4]]})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body["predictions"], {"echo": [[1, 2], [3, 4]]})

    def test_json_content_type_with_charset_and_trailing_slash(self):
        resp = request(self.port, "POST", "/predict/", b'{"inputs": 1}',
                       {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual((resp.status, resp.body["predictions"]), (200, {"echo": 1}))

    def test_sane_request_id_is_honoured(self):
        resp = self.predict({"inputs": 1}, **{"X-Request-Id": "req-1.A_b"})
        self.assertEqual(resp.headers["X-Request-Id"], "req-1.A_b")
        self.assertEqual(resp.body["request_id"], "req-1.A_b")

    def test_unsafe_request_id_is_replaced(self):
        for incoming in ["has space", "x" * 65, "semi;colon", ""]:
            with self.subTest(incoming=incoming):
                resp = self.predict({"inputs": 1}, **{"X-Request-Id": incoming})
                self.assertRegex(resp.headers["X-Request-Id"], HEX32_RE)
                self.assertEqual(resp.body["request_id"], resp.headers["X-Request-Id"])

    def test_concurrent_requests(self):
        results = {}

        def call(i):
            results[i] = self.predict({"inputs": i}, **{"X-Request-Id": f"conc-{i}"})

        threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        self.assertEqual(len(results), 16)
        for i, resp in results.items():
            self.assertEqual((resp.status, resp.body["predictions"]), (200, {"echo": i}))
            self.assertEqual(resp.body["request_id"], f"conc-{i}")

    # -- type conversion ----------------------------------------------------

    def test_builtin_types_converted(self):
        resp = self.predict({"inputs": "misc"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body["predictions"], {
            "set": [1, 2, 3],
            "tuple": [1, "a"],
            "datetime": "2024-05-06T07:08:09+00:00",
            "date": "2024-05-06",
            "decimal": 1.25,
            "bytes": base64.b64encode(b"hi").decode(),
            "int_keys": {"1": "one"},
        })

    def test_non_finite_floats_become_null(self):
        resp = self.predict({"inputs": "nan"})
        self.assertEqual(resp.body["predictions"], [None, None, 1.5])

    @unittest.skipUnless(HAS_NUMPY, "numpy not installed")
    def test_numpy_types_converted(self):
        resp = self.predict({"inputs": "numpy"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body["predictions"], {
            "array": [[1, 2], [3, 4]], "float32": 1.5, "int64": 7, "bool": True,
            "nan": None, "datetime": "2024-05-06T07:08:09.000000000",
        })

    @unittest.skipUnless(HAS_PANDAS, "pandas not installed")
    def test_pandas_types_converted(self):
        resp = self.predict({"inputs": "pandas"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body["predictions"], {
            "frame": [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
            "series": [0.5, 1.5],
            "timestamp": "2024-05-06T07:08:09",
            "nat": None,
        })

    # -- client errors ------------------------------------------------------

    def test_invalid_json_is_400(self):
        resp = request(self.port, "POST", "/predict", b'{"inputs": [1,',
                       {"Content-Type": "application/json"})
        self.assertError(resp, 400, "BadRequest", "not valid JSON", BODY_HINT)

    def test_wrong_body_shape_is_422_with_the_problem_as_detail(self):
        cases = [
            ({}, "neither"),
            ({"input": [1]}, "neither"),
            ({"inputs": 1, "instances": [1]}, "both"),
            ({"instances": {"a": 1}}, '"instances" must be a JSON array'),
            ([1, 2], "not an object"),
        ]
        for payload, expected in cases:
            with self.subTest(payload=payload):
                resp = self.predict(payload)
                self.assertError(resp, 422, "InputError", expected, BODY_HINT)
                self.assertIn(expected, resp.body["detail"])

    def test_wrong_content_type_is_400(self):
        resp = request(self.port, "POST", "/predict", b'{"inputs": 1}',
                       {"Content-Type": "text/plain"})
        self.assertError(resp, 400, "BadRequest", "application/json", "'text/plain'", BODY_HINT)

    def test_missing_content_length_is_411(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.putrequest("POST", "/predict")
            conn.putheader("Content-Type", "application/json")
            conn.endheaders()
            raw = conn.getresponse()
            resp = Response(raw.status, raw.headers, json.loads(raw.read()))
        finally:
            conn.close()
        self.assertError(resp, 411, "LengthRequired", "Content-Length")

    def test_body_too_large_is_413(self):
        payload = {"inputs": "z" * self.MAX_BODY_BYTES}
        resp = self.predict(payload)
        self.assertError(resp, 413, "PayloadTooLarge", str(self.MAX_BODY_BYTES),
                         "BERTH_MAX_BODY_BYTES")
        self.assertEqual(self.predict({"inputs": "after"}).status, 200)

    # -- model errors -------------------------------------------------------

    def test_model_exception_is_500_with_traceback_logged(self):
        request_id = "model-error-1"
        resp = self.predict({"inputs": "raise"}, **{"X-Request-Id": request_id})
        self.assertError(resp, 500, "ModelError", "RuntimeError: the model broke")
        self.assertNotIn("detail", resp.body)
        self.assertEqual(resp.body["request_id"], request_id)
        wait_until(lambda: f"request {request_id}: model raised" in self.server.stderr_text())
        stderr = self.server.stderr_text()
        self.assertIn("Traceback (most recent call last)", stderr)
        self.assertIn('raise RuntimeError("the model broke")', stderr)

    def test_input_the_model_refuses_is_422_with_its_message(self):
        cases = [
            ("bad value", "ValueError: bad value for the model", "bad value for the model"),
            ("no features", "KeyError: 'features'", "missing key 'features'"),
            ("wrong type", "TypeError: expected a list of rows", "expected a list of rows, got a str"),
        ]
        for model_input, message, detail in cases:
            with self.subTest(model_input=model_input):
                resp = self.predict({"inputs": model_input})
                self.assertError(resp, 422, "InputError", message)
                self.assertEqual(resp.body["detail"], detail)
        wait_until(lambda: "model refused the input" in self.server.stderr_text())

    def test_sys_exit_in_model_is_500_and_server_survives(self):
        self.assertError(self.predict({"inputs": "exit"}), 500, "ModelError", "SystemExit")
        self.assertEqual(request(self.port, "GET", "/healthz").status, 200)

    def test_unserializable_output_is_500(self):
        resp = self.predict({"inputs": "unserializable"})
        self.assertError(resp, 500, "SerializationError", "object")

    # -- metadata -----------------------------------------------------------

    def test_metadata(self):
        resp = request(self.port, "GET", "/metadata")
        self.assertEqual(resp.status, 200, resp)
        body = resp.body
        self.assertEqual(body["model_name"], "churn")
        self.assertEqual(body["model_version"], "7")
        self.assertEqual(body["module"], "berth_model")
        self.assertEqual(body["entrypoint"], "predict")
        self.assertEqual(body["status"], "ready")
        self.assertEqual(body["python_version"], platform.python_version())
        self.assertRegex(body["started_at"], TS_RE)
        self.assertEqual(body["metadata"], self.METADATA)
        try:
            numpy_version = importlib.metadata.version("numpy")
        except importlib.metadata.PackageNotFoundError:
            numpy_version = None
        # Installed versions, not the pins from the metadata file.
        self.assertEqual(body["packages"],
                         {"numpy": numpy_version, "not-a-real-package-xyz": None})

    # -- request log --------------------------------------------------------

    def test_request_log_line(self):
        request_id = "log-fields-1"
        self.predict({"inputs": {"a": 1}},
                     **{"X-Request-Id": request_id, "X-Berth-Caller": "notebook-ui"})
        line = self.server.request_log(request_id)
        self.assertEqual(set(line), {
            "type", "ts", "request_id", "method", "path", "status", "latency_ms", "model",
            "model_version", "caller", "input", "output", "error"})
        self.assertRegex(line["ts"], TS_RE)
        self.assertEqual((line["method"], line["path"], line["status"]), ("POST", "/predict", 200))
        self.assertEqual((line["model"], line["model_version"]), ("churn", "7"))
        self.assertEqual(line["caller"], "notebook-ui")
        self.assertEqual(json.loads(line["input"]), {"a": 1})
        self.assertEqual(json.loads(line["output"]), {"echo": {"a": 1}})
        self.assertIsNone(line["error"])
        self.assertIsInstance(line["latency_ms"], float)
        self.assertGreater(line["latency_ms"], 0)
        self.assertEqual(line["latency_ms"], round(line["latency_ms"], 3))

    def test_request_log_truncates_input_and_output(self):
        request_id = "log-truncate-1"
        self.predict({"inputs": "x" * 300}, **{"X-Request-Id": request_id})
        line = self.server.request_log(request_id)
        limit = self.LOG_MAX_CHARS
        full_input = json.dumps("x" * 300)
        self.assertEqual(line["input"],
                         full_input[:limit] + f"…(truncated {len(full_input) - limit} chars)")
        self.assertEqual(line["caller"], None)

        request_id = "log-truncate-2"
        self.predict({"inputs": "big"}, **{"X-Request-Id": request_id})
        line = self.server.request_log(request_id)
        full_output = json.dumps("y" * 500)
        self.assertEqual(line["output"],
                         full_output[:limit] + f"…(truncated {len(full_output) - limit} chars)")

    def test_error_requests_are_logged(self):
        request_id = "log-error-1"
        request(self.port, "POST", "/predict", b"not json",
                {"Content-Type": "application/json", "X-Request-Id": request_id})
        line = self.server.request_log(request_id)
        self.assertEqual(line["status"], 400)
        self.assertIn("not valid JSON", line["error"])
        self.assertEqual(line["input"], "not json")  # raw body, to see what was sent
        self.assertIsNone(line["output"])

        request_id = "log-error-2"
        self.predict({"inputs": "raise"}, **{"X-Request-Id": request_id})
        line = self.server.request_log(request_id)
        self.assertEqual((line["status"], line["error"]), (500, "RuntimeError: the model broke"))

        request_id = "log-error-3"
        self.predict({"inputs": "bad value"}, **{"X-Request-Id": request_id})
        line = self.server.request_log(request_id)
        self.assertEqual((line["status"], line["error"]), (422, "ValueError: bad value for the model"))

    def test_probes_are_not_logged_every_time(self):
        for i in range(5):
            request(self.port, "GET", "/healthz", headers={"X-Request-Id": f"probe-{i}"})
        self.predict({"inputs": 1}, **{"X-Request-Id": "after-probes"})
        self.server.request_log("after-probes")  # log lines are written in order
        healthz_lines = [r for r in self.server.records if r.get("path") == "/healthz"]
        self.assertLessEqual(len(healthz_lines), 1, healthz_lines)

    def test_stdout_is_only_json_lines(self):
        self.predict({"inputs": 1}, **{"X-Request-Id": "json-only"})
        self.server.request_log("json-only")
        self.assertEqual(self.server.non_json, [])
        self.assertTrue(all(r["type"] in ("request", "lifecycle") for r in self.server.records))
        self.assertEqual(self.server.lifecycle_events()[:3], ["listening", "loading", "ready"])


# --------------------------------------------------------------------------
# Start-up, failure and shutdown: one server per test


class LifecycleTests(unittest.TestCase):

    def test_readyz_is_503_while_loading_then_200(self):
        server = start_server(self, TEST_LOAD_DELAY=2)
        self.assertEqual(request(server.port, "GET", "/healthz").body, {"status": "alive"})
        resp = request(server.port, "GET", "/readyz")
        self.assertEqual((resp.status, resp.body), (503, {"status": "loading"}))
        self.assertEqual(resp.headers["Retry-After"], "1")
        resp = post_json(server.port, {"inputs": 1})
        self.assertEqual((resp.status, resp.body["error"]["kind"]), (503, "NotReady"))
        self.assertIn("still loading", resp.body["error"]["message"])

        server.wait_ready()
        for _ in range(3):
            self.assertEqual(request(server.port, "GET", "/readyz").status, 200)
        self.assertEqual(post_json(server.port, {"inputs": 1}).status, 200)

        ready = server.wait_for(lambda r: r.get("event") == "ready")
        self.assertGreaterEqual(ready["load_seconds"], 2)
        self.assertEqual(server.lifecycle_events(), ["listening", "loading", "ready"])
        # Polled many times, but only the status changes are logged.
        readyz = [r["status"] for r in server.records if r.get("path") == "/readyz"]
        self.assertEqual(readyz, [503, 200])

    def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped(self):
        # The gateway opens many upstream connections at once under load; while the server is busy (here: stopped)
        # the kernel must queue them, not drop them (socketserver's default backlog of 5 made the gateway answer 502).
        server = start_server(self)
        server.wait_ready()
        os.kill(server.proc.pid, signal.SIGSTOP)
        opened = []
        try:
            for _ in range(64):
                conn = socket.socket()
                conn.settimeout(0.5)
                self.addCleanup(conn.close)
                conn.connect(("127.0.0.1", server.port))
                opened.append(conn)
        except OSError:
            pass
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        self.assertEqual(len(opened), 64)
        self.assertEqual(post_json(server.port, {"inputs": 1}).status, 200)

    def test_load_failure_exits_with_code_3(self):
        server = start_server(self, TEST_LOAD_FAIL=1)
        self.assertEqual(server.wait_exit(), 3)
        failed = server.wait_for(lambda r: r.get("event") == "load_failed")
        self.assertEqual(failed["error"], "RuntimeError: boom while loading weights")
        self.assertIn("Traceback (most recent call last)", server.stderr_text())
        self.assertIn("RuntimeError: boom while loading weights", server.stderr_text())
        self.assertEqual(server.lifecycle_events()[-2:], ["stopping", "stopped"])

    def test_load_failure_reported_by_readyz_when_not_exiting(self):
        server = start_server(self, TEST_LOAD_FAIL=1, BERTH_EXIT_ON_LOAD_FAILURE=0)
        server.wait_for(lambda r: r.get("event") == "load_failed")
        resp = request(server.port, "GET", "/readyz")
        self.assertEqual((resp.status, resp.body),
                         (503, {"status": "failed",
                                "error": "RuntimeError: boom while loading weights"}))
        self.assertEqual(request(server.port, "GET", "/healthz").status, 200)
        resp = post_json(server.port, {"inputs": 1})
        self.assertEqual(resp.status, 503)
        self.assertIn("failed to load", resp.body["error"]["message"])
        self.assertIsNone(server.proc.poll())

    def test_missing_entrypoint_lists_available_functions(self):
        server = start_server(self, BERTH_ENTRYPOINT="infer", BERTH_EXIT_ON_LOAD_FAILURE=0)
        failed = server.wait_for(lambda r: r.get("event") == "load_failed")
        self.assertIn("'infer'", failed["error"])
        self.assertIn("helper, predict", failed["error"])

    def test_metadata_packages_default_to_the_models_imports(self):
        # No metadata file: report distributions the model module imported, and
        # nothing the interpreter had loaded before (site hooks etc.).
        server = start_server(self, TEST_IMPORT_NUMPY=1 if HAS_NUMPY else "")
        server.wait_ready()
        body = request(server.port, "GET", "/metadata").body
        expected = {"numpy": importlib.metadata.version("numpy")} if HAS_NUMPY else {}
        self.assertEqual(body["packages"], expected)
        self.assertIsNone(body["metadata"])

    def test_sigterm_finishes_in_flight_request_and_exits_0(self):
        marker = Path(make_workdir(self), "predict-started")
        server = start_server(self, TEST_MARKER=marker, TEST_SLOW_SECONDS=2)
        server.wait_ready()
        result = {}
        slow = threading.Thread(
            target=lambda: result.update(resp=post_json(server.port, {"inputs": "slow"})))
        slow.start()
        wait_until(marker.exists)

        sent_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        # New connections are refused while the slow request is still running.
        wait_until(lambda: not _accepts_connections(server.port), timeout=1.5)
        self.assertTrue(slow.is_alive(), "slow request finished before the listener closed")

        slow.join(TIMEOUT)
        self.assertEqual(result["resp"].status, 200)
        self.assertEqual(result["resp"].body["predictions"], "slow done")
        self.assertEqual(server.wait_exit(), 0)
        self.assertLess(time.monotonic() - sent_at, 5)
        stopped = server.wait_for(lambda r: r.get("event") == "stopped")
        self.assertEqual((stopped["exit_code"], stopped["abandoned_requests"]), (0, 0))
        stopping = server.wait_for(lambda r: r.get("event") == "stopping")
        self.assertEqual(stopping["reason"], "SIGTERM")

    def test_sigterm_while_loading_exits_promptly(self):
        server = start_server(self, TEST_LOAD_DELAY=30)
        server.wait_for(lambda r: r.get("event") == "loading")
        sent_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait_exit(), 0)
        self.assertLess(time.monotonic() - sent_at, 3)

    def test_invalid_config_exits_with_code_2(self):
        server = ServerProcess(make_workdir(self), wait_listening=False, PORT="eighty")
        self.addCleanup(server.stop)
        self.assertEqual(server.wait_exit(), 2)
        self.assertIn("PORT must be an integer", server.stderr_text())


def _accepts_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
