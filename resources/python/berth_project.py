"""Berth project helper.

Runs under the *project's* Python interpreter (3.8 or newer), standard library only, except `requirements`,
which reads PEP 508/440 with `packaging` (the interpreter's own, else the copy pip vendors).
Usage: python -B berth_project.py COMMAND < input.json > output.json

Commands:
  probe         the interpreter's version and paths
  code          static analysis (ast) of code chunks: functions, imports, file references, ...
  imports       classify imports: stdlib, local (recursively analysed), installed distributions
  pickles       inspect pickle / joblib / torch files without unpickling them (no code runs)
  requirements  parse requirements and tell whether the interpreter's version meets each Python version request
  sample        run the inference module + the sample cell, call the entrypoint, return JSON

The JSON result goes to the original stdout; anything the user's code prints goes to stderr.
"""

from __future__ import annotations

import ast
import json
import math
import os
import platform
import re
import sys
import sysconfig
import traceback
import types

# Keep the real stdout for our JSON; everything else (user prints, C-level writes) goes to stderr.
_REAL_STDOUT = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)

# --------------------------------------------------------------------------------------------
# probe


def cmd_probe(_data):
    return {
        "executable": sys.executable,
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "basePrefix": getattr(sys, "base_prefix", sys.prefix),
        "platform": sys.platform,
    }


# --------------------------------------------------------------------------------------------
# code: static analysis

MODEL_LOADERS = {
    # callee (as written, last two dotted parts or last part) -> kind
    "joblib.load": "model",
    "pickle.load": "model",
    "dill.load": "model",
    "cloudpickle.load": "model",
    "torch.load": "model",
    "load_model": "model",
    "load_learner": "model",
    "read_pickle": "model",
    "InferenceSession": "model",
    "Booster": "model",
    "load_weights": "model",
    "read_csv": "data",
    "read_table": "data",
    "read_parquet": "data",
    "read_json": "data",
    "read_excel": "data",
    "read_feather": "data",
    "read_hdf": "data",
    "loadtxt": "data",
    "genfromtxt": "data",
    "np.load": "data",
    "numpy.load": "data",
    "open": "file",
}
PATH_KEYWORDS = ("filepath_or_buffer", "path", "file", "filename", "fname", "f", "model_file", "path_or_buf", "io", "filepath")
MODEL_EXTENSIONS = (
    ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".h5", ".hdf5", ".keras", ".onnx",
    ".safetensors", ".cbm", ".sav", ".model", ".bst", ".ubj",
)
ABS_PATH_RE = re.compile(r"^(/|~[/\\]|[A-Za-z]:[\\/]|\\\\)")
TRAINING_ATTRS = {"fit", "fit_transform", "partial_fit", "fit_predict", "fit_generator", "backward"}
_JOIN_NAMES = {"os.path.join", "path.join", "join", "posixpath.join"}
_PATH_CTORS = {"Path", "pathlib.Path", "PurePath", "PosixPath"}


def dotted(node):
    """'a.b.c' for Name/Attribute chains, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):  # e.g. Path(...).open() -> keep the attribute part
        inner = dotted(node.func)
        if inner is not None:
            parts.append(inner + "()")
            return ".".join(reversed(parts))
    return None


def str_const(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if sys.version_info < (3, 8) and isinstance(node, ast.Str):  # pragma: no cover
        return node.s
    return None


def fold_path(node):
    """Evaluate simple constant path expressions: 'a', 'a' + 'b', os.path.join('a','b'), Path('a') / 'b'."""
    s = str_const(node)
    if s is not None:
        return s
    if isinstance(node, ast.JoinedStr) and all(str_const(v) is not None for v in node.values):
        return "".join(str_const(v) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
        left, right = fold_path(node.left), fold_path(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        return left.rstrip("/") + "/" + right
    if isinstance(node, ast.Call):
        name = dotted(node.func)
        if name in _JOIN_NAMES or name in _PATH_CTORS:
            if node.keywords or not node.args:
                return None
            parts = [fold_path(a) for a in node.args]
            if any(p is None for p in parts):
                return None
            out = parts[0]
            for p in parts[1:]:
                out = p if p.startswith("/") else out.rstrip("/") + "/" + p
            return out
    return None


def loader_kind(callee):
    if callee is None:
        return None
    parts = callee.split(".")
    last2 = ".".join(parts[-2:])
    if last2 in MODEL_LOADERS:
        return MODEL_LOADERS[last2]
    if parts[-1] in MODEL_LOADERS:
        kind = MODEL_LOADERS[parts[-1]]
        # A bare `load(...)` is too generic; `open` only counts when called as a builtin or io/Path method.
        if parts[-1] == "open" and len(parts) > 1 and parts[-2] not in ("io", "codecs", "gzip", "bz2", "lzma"):
            return None
        return kind
    return None


def path_arg(call):
    if call.args:
        return call.args[0]
    for kw in call.keywords:
        if kw.arg in PATH_KEYWORDS:
            return kw.value
    return None


def iter_top_level_nodes(body):
    """Nodes that run at import: everything except the bodies of functions and lambdas."""

    def runs_at_import(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # decorators and default values still run at import
            return list(node.decorator_list) + [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
        if isinstance(node, ast.ClassDef):
            # a class body runs when the class is defined (its methods don't)
            return list(node.decorator_list) + list(node.bases) + [k.value for k in node.keywords] + list(node.body)
        if isinstance(node, ast.Lambda):
            return []
        return None

    stack = []

    def push(nodes):
        for node in nodes:
            sub = runs_at_import(node)
            if sub is None:
                stack.append(node)
            else:
                push(sub)

    push(body)
    while stack:
        node = stack.pop()
        yield node
        push(ast.iter_child_nodes(node))


def training_call(call):
    if not isinstance(call.func, ast.Attribute):
        return None
    attr = call.func.attr
    receiver = dotted(call.func.value) or ""
    if attr in TRAINING_ATTRS:
        return receiver + "." + attr if receiver else attr
    if attr == "train" and (call.args or call.keywords):
        return receiver + "." + attr if receiver else attr
    if attr == "compile":
        kws = {k.arg for k in call.keywords}
        if kws & {"optimizer", "loss"} or "model" in receiver.lower():
            return receiver + "." + attr if receiver else attr
    return None


def docstring_nodes(tree):
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and str_const(body[0].value) is not None:
                ids.add(id(body[0].value))
    return ids


def _plain_call(node):
    """`f(x)`: a plain name called with one positional argument and nothing else."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1
            and not node.keywords and not isinstance(node.args[0], ast.Starred)):
        return node
    return None


def _statement_call(stmt):
    """The call a statement makes: `f(x)`, `y = f(x)` or `print(f(x))` (then shown: its answer is the output)."""
    if isinstance(stmt, ast.Expr):
        call = _plain_call(stmt.value)
        if call is not None and call.func.id in ("print", "display"):
            return _plain_call(call.args[0]), True
        return call, False
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        return _plain_call(stmt.value), False
    return None, False


def top_level_calls(tree, code):
    """Statements that call one function with one argument, each on lines of its own.

    In the sample-input cell, such a call names the entrypoint and its argument is the sample."""
    calls = []
    body = tree.body
    for i, stmt in enumerate(body):
        call, printed = _statement_call(stmt)
        if call is None:
            continue
        shares_line = (i > 0 and body[i - 1].end_lineno >= stmt.lineno) or (
            i + 1 < len(body) and body[i + 1].lineno <= stmt.end_lineno)
        if shares_line:
            continue  # `x = 1; f(x)`: the call cannot be cut out of the cell by lines
        arg = call.args[0]
        last = i == len(body) - 1
        calls.append({
            "function": call.func.id,
            "line": stmt.lineno,
            "endLine": stmt.end_lineno,
            "argument": arg.id if isinstance(arg, ast.Name) else None,
            "argumentSource": ast.get_source_segment(code, arg),
            # the cell's stored output is this call's answer: printed, or a bare call ending the cell
            "shown": last and (printed or isinstance(stmt, ast.Expr)),
        })
    return calls


def analyse_source(code, filename="<cell>"):
    try:
        tree = ast.parse(code, filename=filename)
    except SyntaxError as e:
        return {"syntaxError": {"line": e.lineno or 0, "col": e.offset or 0, "message": e.msg or str(e)}}
    except (ValueError, TypeError) as e:  # e.g. null bytes
        return {"syntaxError": {"line": 0, "col": 0, "message": str(e)}}

    functions, classes, assigned = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [x.arg for x in getattr(a, "posonlyargs", [])] + [x.arg for x in a.args]
            if a.vararg:
                params.append("*" + a.vararg.arg)
            params += [x.arg for x in a.kwonlyargs]
            if a.kwarg:
                params.append("**" + a.kwarg.arg)
            functions.append({"name": node.name, "line": node.lineno, "params": params, "async": isinstance(node, ast.AsyncFunctionDef)})
        elif isinstance(node, ast.ClassDef):
            classes.append({"name": node.name, "line": node.lineno})
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    assigned.append(t.id)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            assigned.append(node.target.id)

    imports, file_refs, abs_paths = [], [], []
    doc_ids = docstring_nodes(tree)
    # file refs found inside a loader call's argument (e.g. pickle.load(open('m.pkl','rb'))) are models
    model_parents = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.append({"module": alias.name, "line": node.lineno, "level": 0})
        elif isinstance(node, ast.ImportFrom):
            imports.append({"module": node.module or "", "line": node.lineno, "level": node.level or 0,
                            "names": [a.name for a in node.names]})
        elif isinstance(node, ast.Call):
            callee = dotted(node.func)
            if callee in ("importlib.import_module", "import_module", "__import__") and node.args:
                name = str_const(node.args[0])
                if name and not name.startswith("."):
                    imports.append({"module": name, "line": node.lineno, "level": 0, "dynamic": True})
                continue
            kind = loader_kind(callee)
            if kind == "model":
                for sub in ast.walk(node):
                    if sub is not node and isinstance(sub, ast.Call):
                        model_parents.add(id(sub))
            if kind is None:
                continue
            arg = path_arg(node)
            if arg is None:
                continue
            value = fold_path(arg)
            if value is None or value == "" or "\n" in value:
                continue
            mode = None
            if callee.split(".")[-1] == "open":
                if len(node.args) > 1:
                    mode = str_const(node.args[1])
                for kw in node.keywords:
                    if kw.arg == "mode":
                        mode = str_const(kw.value)
            file_refs.append({"path": value, "line": node.lineno, "call": callee, "kind": kind, "mode": mode, "_id": id(node)})
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in doc_ids:
            v = node.value
            if 1 < len(v) < 500 and "\n" not in v and ABS_PATH_RE.match(v) and not v.startswith("//"):
                abs_paths.append({"value": v, "line": getattr(node, "lineno", 0)})

    for ref in file_refs:
        if ref["kind"] == "file":
            lower = ref["path"].lower()
            is_model = ref.pop("_id") in model_parents or lower.endswith(MODEL_EXTENSIONS)
            is_write = bool(ref["mode"]) and any(c in ref["mode"] for c in "wax+")
            ref["kind"] = "output" if is_write else ("model" if is_model else "data")
        else:
            ref.pop("_id", None)

    training, loaded = [], []
    for node in iter_top_level_nodes(tree.body):
        if isinstance(node, ast.Call):
            t = training_call(node)
            if t:
                training.append({"line": node.lineno, "call": t})
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in loaded:
            loaded.append(node.id)
    training.sort(key=lambda x: x["line"])
    imports.sort(key=lambda x: x["line"])
    file_refs.sort(key=lambda x: x["line"])
    abs_paths.sort(key=lambda x: x["line"])
    return {
        "functions": functions,
        "classes": classes,
        "assigned": assigned,
        "imports": imports,
        "fileRefs": file_refs,
        "absolutePaths": abs_paths,
        "training": training,
        "loadedNames": loaded,
        "calls": top_level_calls(tree, code),
    }


def cmd_code(data):
    return {"results": [dict(analyse_source(s["code"]), id=s["id"]) for s in data["sources"]]}


# --------------------------------------------------------------------------------------------
# imports: stdlib / local / installed distributions


def stdlib_names():
    names = getattr(sys, "stdlib_module_names", None)
    return set(names) if names else None


def is_stdlib(name, names):
    if name in sys.builtin_module_names or name == "__future__":
        return True
    if names is not None:
        return name in names
    # Python < 3.10: locate the module without importing it.
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    origin = spec.origin or ""
    if origin in ("built-in", "frozen"):
        return True
    paths = sysconfig.get_paths()
    stdlib_dirs = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib") if k in paths}
    site_dirs = {os.path.realpath(paths[k]) for k in ("purelib", "platlib") if k in paths}
    loc = os.path.realpath(origin if origin else (list(spec.submodule_search_locations or [""])[0]))
    if any(loc.startswith(d + os.sep) for d in site_dirs) or "site-packages" in loc or "dist-packages" in loc:
        return False
    return any(loc.startswith(d + os.sep) for d in stdlib_dirs)


def _metadata():
    try:
        import importlib.metadata as md  # 3.8+
    except ImportError:  # pragma: no cover
        return None
    return md


def packages_distributions(md):
    fn = getattr(md, "packages_distributions", None)
    if fn is not None:
        return {k: list(dict.fromkeys(v)) for k, v in fn().items()}
    # Python 3.8/3.9: the same thing, built by hand.
    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            for f in dist.files or []:
                parts = str(f).replace("\\", "/").split("/")
                first = parts[0]
                if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
                    continue
                if len(parts) == 1:
                    if first.endswith(".py"):
                        tops.append(first[:-3])
                    elif ".cpython-" in first or first.endswith((".so", ".pyd")):
                        tops.append(first.split(".")[0])
                else:
                    tops.append(first)
        for t in dict.fromkeys(tops):
            out.setdefault(t, [])
            if name not in out[t]:
                out[t].append(name)
    return out


def dist_version(md, name):
    try:
        return md.version(name)
    except Exception:
        return None


def disambiguate(md, module, candidates):
    """For namespace packages (google.*, azure.*): which candidate ships the imported sub-module?"""
    parts = module.split(".")
    best, best_depth = [], 0
    for cand in candidates:
        try:
            files = [str(f).replace("\\", "/") for f in (md.distribution(cand).files or [])]
        except Exception:
            continue
        depth = 0
        for n in range(len(parts), 1, -1):
            prefix = "/".join(parts[:n])
            if any(f == prefix + ".py" or f.startswith(prefix + "/") for f in files):
                depth = n
                break
        if depth > best_depth:
            best, best_depth = [cand], depth
        elif depth == best_depth and depth > 0:
            best.append(cand)
    return best if best_depth > 1 else candidates


def find_local(name, search_dirs):
    for d in search_dirs:
        f = os.path.join(d, name + ".py")
        if os.path.isfile(f):
            return [f]
        pkg = os.path.join(d, name)
        if os.path.isdir(pkg):
            files = []
            for dirpath, dirnames, filenames in os.walk(pkg):
                dirnames[:] = sorted(x for x in dirnames if not x.startswith(".") and x != "__pycache__")
                files += [os.path.join(dirpath, fn) for fn in sorted(filenames) if fn.endswith(".py")]
                if len(files) > 200:
                    break
            if files:
                return files
    return None


def cmd_imports(data):
    search_dirs = [d for d in dict.fromkeys(data["searchDirs"]) if d]
    root = data.get("root") or search_dirs[0]
    names = stdlib_names()
    md = _metadata()
    pkg_map = packages_distributions(md) if md else {}

    pending = list(data["imports"])  # {module, ref}
    seen_local = {}
    local_files = []
    result = {}  # top-level name -> entry
    while pending:
        imp = pending.pop(0)
        module = imp["module"]
        top = module.split(".")[0]
        if not top:
            continue
        entry = result.get(top)
        if entry is None:
            entry = {"name": top, "modules": [], "refs": []}
            result[top] = entry
            if is_stdlib(top, names):
                entry["kind"] = "stdlib"
            else:
                files = find_local(top, search_dirs)
                if files:
                    entry["kind"] = "local"
                    entry["files"] = [os.path.relpath(f, root) for f in files]
                    for f in files:
                        if f in seen_local:
                            continue
                        seen_local[f] = True
                        rel = os.path.relpath(f, root)
                        try:
                            with open(f, "r", encoding="utf-8") as fh:
                                src = fh.read()
                        except (OSError, UnicodeDecodeError) as e:
                            local_files.append({"file": rel, "error": str(e)})
                            continue
                        analysis = analyse_source(src, rel)
                        analysis["file"] = rel
                        local_files.append(analysis)
                        for sub in analysis.get("imports", []):
                            if sub["level"] == 0 and sub["module"]:
                                pending.append({"module": sub["module"], "ref": {"module": sub["module"], "file": rel, "line": sub["line"]}})
                else:
                    dists = pkg_map.get(top, [])
                    if len(dists) > 1:
                        dists = disambiguate(md, module, dists)
                    entry["distributions"] = [{"name": d, "version": dist_version(md, d)} for d in dists]
                    if not dists:
                        import importlib.util

                        try:
                            found = importlib.util.find_spec(top) is not None
                        except (ImportError, ValueError):
                            found = False
                        entry["kind"] = "unresolved"
                        entry["importable"] = found
                    elif len(dists) == 1:
                        entry["kind"] = "installed"
                    else:
                        entry["kind"] = "ambiguous"
        if module not in entry["modules"]:
            entry["modules"].append(module)
        if imp.get("ref") is not None:
            entry["refs"].append(imp["ref"])
    versions = {d: dist_version(md, d) if md else None for d in data.get("distributions", [])}
    return {"imports": list(result.values()), "localFiles": local_files, "distVersions": versions}


# --------------------------------------------------------------------------------------------
# pickles: read opcodes, never unpickle

MAX_PICKLE_BYTES = 512 * 1024 * 1024
_STR_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def _decompress(raw):
    """joblib compresses with zlib/gzip/bz2/lzma/xz (lz4 needs a package: reported)."""
    import bz2
    import gzip
    import lzma
    import zlib

    if raw[:2] == b"ZF":  # joblib < 0.10: 'ZF' + padded hex length, then a zlib stream
        start = raw.find(b"\x78", 2, 40)
        if start < 0:
            raise ValueError("unrecognised joblib 'ZF' header")
        return zlib.decompress(raw[start:]), "zlib"
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw), "gzip"
    if raw[:3] == b"BZh":
        return bz2.decompress(raw), "bz2"
    if raw[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(raw), "xz"
    if raw[:1] == b"\x78" and len(raw) > 1 and (raw[0] * 256 + raw[1]) % 31 == 0:
        return zlib.decompress(raw), "zlib"
    if raw[:3] == b"\x5d\x00\x00":
        return lzma.decompress(raw, format=lzma.FORMAT_ALONE), "lzma"
    if raw[:4] == b"\x04\x22\x4d\x18":
        raise ValueError("lz4-compressed file: cannot be inspected without the lz4 package")
    return raw, None


def _exact_walk(data):
    """Walk every pickle in `data` with pickletools. Raises if the bytes are not plain pickles."""
    import pickletools

    globals_, versions = [], []
    pos = 0
    while pos < len(data):
        memo, last_strings, next_memo = {}, [], 0
        stop_at = None
        for op, arg, p in pickletools.genops(data[pos:]):
            name = op.name
            if name in _STR_OPS:
                val = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                last_strings = (last_strings + [val])[-2:]
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                val = memo.get(arg)
                last_strings = (last_strings + [val])[-2:]
            elif name == "MEMOIZE":
                memo[next_memo] = last_strings[-1] if last_strings else None
                next_memo += 1
                continue
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = last_strings[-1] if last_strings else None
                continue
            elif name in ("GLOBAL", "INST", "STACK_GLOBAL"):
                if name == "STACK_GLOBAL":
                    if not (len(last_strings) == 2 and all(isinstance(x, str) for x in last_strings)):
                        raise ValueError("STACK_GLOBAL without two strings")
                    mod, qual = last_strings
                else:
                    mod, _, qual = str(arg).partition(" ")
                if mod.startswith("joblib") and qual == "NumpyArrayWrapper":
                    # joblib writes raw array buffers after this object: opcodes stop being contiguous
                    raise ValueError("joblib array buffers")
                globals_.append([mod, qual])
                last_strings = [None, None]
            elif name == "STOP":
                stop_at = p
                break
            else:
                last_strings = (last_strings + [None])[-2:]
            # key/value: '_sklearn_version' followed by the value string (pushed or fetched from memo)
            if len(last_strings) == 2 and last_strings[0] == "_sklearn_version" and isinstance(last_strings[1], str):
                versions.append(last_strings[1])
        if stop_at is None:
            raise ValueError("pickle without STOP")
        pos += stop_at + 1
        while pos < len(data) and data[pos:pos + 1] in (b"\x00",):
            pos += 1
    return globals_, versions


_IDENT = re.compile(rb"^[A-Za-z_][A-Za-z0-9_.]*$")


def _scan(data):
    """Byte scan for GLOBAL / STACK_GLOBAL patterns and '_sklearn_version' values.

    Used when the file is not a sequence of plain pickles (joblib writes raw numpy buffers
    between opcodes). Never executes anything.
    """
    globals_, versions = [], []
    # protocol 0-3: GLOBAL 'c' module '\n' name '\n'
    for m in re.finditer(rb"c([A-Za-z_][A-Za-z0-9_.]{0,200})\n([A-Za-z_][A-Za-z0-9_.]{0,200})\n", data):
        globals_.append([m.group(1).decode(), m.group(2).decode()])

    def read_str(i):
        """A string opcode at i -> (value, end) or None."""
        if i >= len(data):
            return None
        op = data[i]
        if op == 0x8C and i + 1 < len(data):  # SHORT_BINUNICODE
            n = data[i + 1]
            s, end = data[i + 2:i + 2 + n], i + 2 + n
        elif op == 0x58 and i + 4 < len(data):  # BINUNICODE
            n = int.from_bytes(data[i + 1:i + 5], "little")
            if n > 4096:
                return None
            s, end = data[i + 5:i + 5 + n], i + 5 + n
        else:
            return None
        if len(s) != n:
            return None
        try:
            return s.decode("utf-8"), end
        except UnicodeDecodeError:
            return None

    def skip_memo(i):
        if i < len(data):
            if data[i] == 0x94:  # MEMOIZE
                return i + 1
            if data[i] == 0x71:  # BINPUT
                return i + 2
            if data[i] == 0x72:  # LONG_BINPUT
                return i + 5
        return i

    def skip_get(i):
        if i < len(data):
            if data[i] == 0x68:  # BINGET
                return i + 2
            if data[i] == 0x6A:  # LONG_BINGET
                return i + 5
        return None

    for m in re.finditer(rb"[\x8c\x58]", data):
        i = m.start()
        first = read_str(i)
        if first is None:
            continue
        value, end = first
        j = skip_memo(end)
        second = read_str(j)
        if value == "_sklearn_version":
            if second is not None and re.match(r"^\d+\.\d+", second[0]):
                versions.append(second[0])
            continue
        if not _IDENT.match(value.encode("utf-8", "replace")):
            continue
        if second is not None and _IDENT.match(second[0].encode("utf-8", "replace")):
            k = skip_memo(second[1])
            if k < len(data) and data[k] == 0x93:  # STACK_GLOBAL
                globals_.append([value, second[0]])
    # A memoised module followed by a fresh name: BINGET, name, STACK_GLOBAL (module pushed earlier)
    # contributes no new module, so it is not needed for the module set.
    return globals_, versions


def inspect_pickle_bytes(data):
    exact = True
    try:
        globals_, versions = _exact_walk(data)
    except Exception:
        exact = False
        globals_, versions = _scan(data)
    uniq = []
    for g in globals_:
        if g not in uniq:
            uniq.append(g)
    modules = sorted({g[0] for g in uniq if g[0]})
    return {
        "exact": exact,
        "globals": uniq,
        "modules": modules,
        "mainRefs": sorted({g[1] for g in uniq if g[0] == "__main__"}),
        "sklearnVersions": sorted(set(versions)),
    }


def inspect_file(path):
    import zipfile

    out = {"path": path}
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as e:
        out["error"] = str(e)
        return out
    out["size"] = size
    if head.startswith(b"version https://git-lfs.github.com/spec/v1"):
        out["format"] = "lfs-pointer"
        return out
    try:
        if head[:4] == b"PK\x03\x04":
            # torch.save (zip): the pickle is <archive>/data.pkl
            out["format"] = "zip"
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.endswith(".pkl")]
                if not members:
                    out["error"] = "zip archive without a pickle inside"
                    return out
                merged = {"exact": True, "globals": [], "modules": [], "mainRefs": [], "sklearnVersions": []}
                for n in members[:20]:
                    info = inspect_pickle_bytes(zf.read(n))
                    merged["exact"] = merged["exact"] and info["exact"]
                    for k in ("globals", "modules", "mainRefs", "sklearnVersions"):
                        for v in info[k]:
                            if v not in merged[k]:
                                merged[k].append(v)
                out.update(merged)
                return out
        if size > MAX_PICKLE_BYTES:
            out["error"] = "file is larger than %d MB; not inspected" % (MAX_PICKLE_BYTES // (1024 * 1024))
            return out
        with open(path, "rb") as fh:
            raw = fh.read()
        data, compression = _decompress(raw)
        out["compression"] = compression
        if not data[:1] == b"\x80" and not data[:1] in (b"(", b"c", b"]", b"}", b"(", b"I", b"S", b"V", b"N"):
            out["format"] = "unknown"
            out["error"] = "not a pickle (first byte %r)" % data[:1]
            return out
        out["format"] = "pickle"
        out.update(inspect_pickle_bytes(data))
    except Exception as e:  # a damaged file must not stop the analysis
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def cmd_pickles(data):
    return {"files": [inspect_file(p) for p in data["files"]]}


# --------------------------------------------------------------------------------------------
# sample: run the module + the sample cell, call the entrypoint


class NotJsonable(TypeError):
    pass


def to_jsonable(v, path="value", depth=0):
    if depth > 50:
        raise NotJsonable("%s is nested too deeply" % path)
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return None if (math.isnan(v) or math.isinf(v)) else float(v)
    if isinstance(v, dict):
        return {str(k): to_jsonable(x, "%s[%r]" % (path, k), depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x, "%s[%d]" % (path, i), depth + 1) for i, x in enumerate(v)]
    if isinstance(v, (set, frozenset)):
        return [to_jsonable(x, path, depth + 1) for x in sorted(v, key=repr)]
    if hasattr(v, "columns") and hasattr(v, "to_dict"):  # pandas DataFrame
        return to_jsonable(v.to_dict(orient="records"), path, depth + 1)
    if hasattr(v, "tolist"):  # numpy arrays and scalars, pandas Series / Index
        return to_jsonable(v.tolist(), path, depth + 1)
    if hasattr(v, "isoformat"):  # datetime, date, pandas Timestamp
        return v.isoformat()
    raise NotJsonable("%s is a %s, which has no JSON form" % (path, type(v).__name__))


def _tb_tail(exc, filename):
    frames = traceback.extract_tb(exc.__traceback__)
    line = None
    for fr in frames:
        if fr.filename == filename:
            line = fr.lineno
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lines = text.strip().splitlines()
    return {"error": "%s: %s" % (type(exc).__name__, exc), "traceback": "\n".join(lines[-25:]), "moduleLine": line}


def cmd_sample(data):
    cwd = data["cwd"]
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    os.environ.setdefault("MPLBACKEND", "Agg")
    mod_file = data.get("moduleName", "berth_module.py")
    mod = types.ModuleType("__berth_notebook__")
    mod.__file__ = os.path.join(cwd, mod_file)
    sys.modules["__berth_notebook__"] = mod
    ns = mod.__dict__
    try:
        exec(compile(data["moduleSource"], mod_file, "exec"), ns)
    except BaseException as e:  # includes SystemExit from user code
        return dict(_tb_tail(e, mod_file), ok=False, stage="module")
    sample_file = "<sample-input cell>"
    try:
        exec(compile(data["sampleCode"], sample_file, "exec"), ns)
    except BaseException as e:
        return dict(_tb_tail(e, sample_file), ok=False, stage="sample")
    var = data["sampleVar"]
    if var not in ns:
        return {"ok": False, "stage": "sample", "error": "the sample-input cell did not define `%s`" % var}
    try:
        sample_json = to_jsonable(ns[var], var)
    except NotJsonable as e:
        return {"ok": False, "stage": "serialize-input", "error": str(e)}
    entry = ns.get(data["entrypoint"])
    if not callable(entry):
        return {"ok": False, "stage": "entrypoint", "error": "`%s` is not a function in the module" % data["entrypoint"]}
    # The served model gets the input after a trip through JSON: call it the same way.
    arg = json.loads(json.dumps(sample_json))
    try:
        result = entry(arg)
    except BaseException as e:
        return dict(_tb_tail(e, mod_file), ok=False, stage="entrypoint")
    try:
        out = to_jsonable(result, "result")
    except NotJsonable as e:
        return {"ok": False, "stage": "serialize-output", "error": str(e)}
    try:
        text = str(result)
    except Exception:
        text = None
    return {"ok": True, "input": sample_json, "output": out, "outputText": text, "outputRepr": repr(result)}


# --------------------------------------------------------------------------------------------
# requirements: PEP 508 and PEP 440 as pip reads them, through `packaging`


def _packaging():
    """The interpreter's packaging, else the copy pip vendors (the same library); None when it has neither."""
    try:
        from packaging import requirements, specifiers, utils, version
    except ImportError:
        try:
            from pip._vendor.packaging import requirements, specifiers, utils, version
        except ImportError:
            return None
    return types.SimpleNamespace(requirements=requirements, specifiers=specifiers, utils=utils, version=version)


def read_requirement(pk, text):
    try:
        req = pk.requirements.Requirement(text)
    except pk.requirements.InvalidRequirement as e:
        return {"error": str(e).splitlines()[0]}  # the rest of the message points at the column
    return {
        "name": pk.utils.canonicalize_name(req.name),
        "rawName": req.name,
        "specifier": "" if req.url else str(req.specifier),  # a direct reference (name @ url) names no version
        "extras": sorted(req.extras),
        "marker": str(req.marker) if req.marker else None,
    }


# The dialects of a Python version request that PEP 440 lacks, rewritten into it before packaging reads them.
_CONDA_BUILD = re.compile(r"^(=?\d[\d.]*\*?)=[^=]+$")  # conda's `=3.9.7=h12345_0`: the build string goes
_IMPLEMENTATION = re.compile(r"^(?:c?python|pypy)-?", re.I)  # .python-version's `pypy3.9`
_SERIES = re.compile(r"^=?(\d+(?:\.\d+)*)\.?\*?$")  # `3.9`, conda's `=3.9` and `3.9*`: that release series
_POETRY = re.compile(r"^([\^~])(\d+(?:\.\d+)*)$")  # poetry's `^3.9` and `~3.9`


def _poetry_range(op, lower):
    parts = [int(p) for p in lower.split(".")]
    if op == "^":  # up to the next change of the first non-zero part
        bump = next((i for i, p in enumerate(parts) if p), len(parts) - 1)
    else:  # `~`: up to the next minor (the next major when only a major is given)
        bump = min(1, len(parts) - 1)
    upper = parts[:bump] + [parts[bump] + 1]
    return ">=%s,<%s" % (lower, ".".join(map(str, upper)))


def _pep440_clause(clause):
    clause = _IMPLEMENTATION.sub("", _CONDA_BUILD.sub(r"\1", clause))
    series = _SERIES.match(clause)
    if series:
        return "==%s.*" % series.group(1)
    poetry = _POETRY.match(clause)
    return _poetry_range(*poetry.groups()) if poetry else clause


def python_satisfies(pk, version, request):
    """Whether `version` meets a request (alternatives split by conda's `|` or poetry's `||`); None if unreadable."""
    alternatives = re.split(r"\|\|?", re.sub(r"\s+", "", request))
    if not all(alternatives):
        return None
    try:
        sets = [pk.specifiers.SpecifierSet(",".join(_pep440_clause(c) for c in alt.split(","))) for alt in alternatives]
    except pk.specifiers.InvalidSpecifier:
        return None  # e.g. a pyenv virtualenv name
    return any(s.contains(pk.version.Version(version), prereleases=True) for s in sets)


def cmd_requirements(data):
    pk = _packaging()
    if pk is None:
        return {"packagingMissing": True}
    return {
        "requirements": [read_requirement(pk, text) for text in data["requirements"]],
        "python": [python_satisfies(pk, data["pythonVersion"], r) for r in data["pythonRequests"]],
    }


# --------------------------------------------------------------------------------------------

COMMANDS = {
    "probe": cmd_probe,
    "code": cmd_code,
    "imports": cmd_imports,
    "pickles": cmd_pickles,
    "requirements": cmd_requirements,
    "sample": cmd_sample,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write("usage: berth_project.py {%s} < input.json\n" % ",".join(COMMANDS))
        return 2
    raw = sys.stdin.read()
    data = json.loads(raw) if raw.strip() else {}
    try:
        out = COMMANDS[sys.argv[1]](data)
    except Exception as e:
        out = {"helperError": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()[-4000:]}
    _REAL_STDOUT.write(json.dumps(out, allow_nan=False))
    _REAL_STDOUT.write("\n")
    _REAL_STDOUT.flush()
    # don't wait for threads the user's code may have left running
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
