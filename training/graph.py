"""The model file: graph builder, validation, shape inference, interpreter, I/O.

docs/model-format.md is the specification; this module is its executable form.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from . import ops

FORMAT = "wgpu-restore-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that breaks a rule of docs/model-format.md."""


# ---------------------------------------------------------------- building


class GraphBuilder:
    """Collects nodes and weight tensors while a module's `emit` walks the model."""

    def __init__(self, model: torch.nn.Module | None = None):
        self.param_names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
        self.tensors: dict[str, torch.Tensor] = {}
        self.functions: dict[str, dict] = {}
        self._nodes: list[dict] = []
        self._count = 0

    def begin(self, inputs: list[tuple[str, int]]) -> list[str]:
        self._nodes, self._count = [], 0
        self._inputs = [{"name": n, "channels": c} for n, c in inputs]
        return [n for n, _ in inputs]

    def end(self, name: str, outputs: dict[str, str]) -> None:
        """Close the function; `outputs` maps output names to the values that hold them."""
        # Rename each output's producing value to the output name.
        rename = {v: k for k, v in outputs.items()}
        for node in self._nodes:
            node["inputs"] = [rename.get(i, i) for i in node["inputs"]]
            node["outputs"] = [rename.get(o, o) for o in node["outputs"]]
        self.functions[name] = {"inputs": self._inputs, "outputs": list(outputs), "nodes": self._nodes}

    def param(self, p: torch.Tensor) -> str:
        return self.tensor(self.param_names[id(p)], p)

    def tensor(self, name: str, t: torch.Tensor) -> str:
        t = t.detach().to(torch.float32).contiguous().clone()
        if name in self.tensors and not torch.equal(self.tensors[name], t):
            raise ValueError(f"two different tensors named {name}")
        self.tensors[name] = t
        return name

    def node(self, op: str, name: str, inputs: list[str], attrs: dict | None = None, weights: dict | None = None) -> str:
        self._count += 1
        out = f"v{self._count}"
        self._nodes.append({"name": name, "op": op, "inputs": list(inputs), "outputs": [out], "attrs": attrs or {}, "weights": weights or {}})
        return out


# ---------------------------------------------------------------- shape rules


def _need(cond, node, msg):
    if not cond:
        raise ModelFileError(f"node '{node['name']}' ({node['op']}): {msg}")


def infer_node(node: dict, shapes: list[tuple[int, int, int]], tensor_shapes: dict[str, tuple]) -> tuple[tuple[int, int, int], dict[str, tuple]]:
    """Output shape (C,H,W) and required weight shapes of one node, from its input shapes."""
    op, a = node["op"], node.get("attrs", {})
    _need(op in ops.OPS, node, f"unknown op '{op}'")
    _, required, optional, n_in = ops.OPS[op]
    _need(n_in is None and len(shapes) >= 1 or len(shapes) == n_in, node, f"expects {n_in} inputs, got {len(shapes)}")
    c, h, w = shapes[0]
    W: dict[str, tuple] = {}
    if op == "conv2d":
        k, s, p, g = (int(a.get(x, d)) for x, d in (("kernel", None), ("stride", 1), ("padding", 0), ("groups", 1)))
        wt = node["weights"].get("weight")
        _need(g >= 1 and c % g == 0, node, f"groups {g} does not divide {c} input channels")
        cout = tensor_shapes[wt][0] if wt in tensor_shapes else None
        _need(cout is not None, node, "weight tensor 'weight' missing")
        _need(cout % g == 0, node, f"groups {g} does not divide {cout} output channels")
        W = {"weight": (cout, c // g, k, k), "bias": (cout,)}
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        _need(oh >= 1 and ow >= 1, node, f"input {h}x{w} too small for kernel {k}")
        out = (cout, oh, ow)
    elif op == "linear":
        _need(h == 1 and w == 1, node, f"input must be Cx1x1, got {c}x{h}x{w}")
        wt = node["weights"].get("weight")
        cout = tensor_shapes[wt][0] if wt in tensor_shapes else None
        _need(cout is not None, node, "weight tensor 'weight' missing")
        W = {"weight": (cout, c), "bias": (cout,)}
        out = (cout, 1, 1)
    elif op == "layer_norm":
        W, out = {"weight": (c,), "bias": (c,)}, (c, h, w)
    elif op == "bias_free_layer_norm":
        W, out = {"weight": (c,)}, (c, h, w)
    elif op == "channel_affine":
        W, out = {"scale": (c,), "shift": (c,)}, (c, h, w)
    elif op in ("channel_attention", "window_attention"):
        heads = int(a["heads"])
        _need(c % 3 == 0 and (c // 3) % heads == 0, node, f"{c} channels is not 3 x a multiple of {heads} heads")
        if op == "window_attention":
            _need(int(a["window"]) >= 1, node, "window must be >= 1")
        W = {"temperature" if op == "channel_attention" else "alpha": (heads,)}
        out = (c // 3, h, w)
    elif op == "gelu_gate":
        _need(c % 2 == 0, node, f"odd channel count {c}")
        out = (c // 2, h, w)
    elif op == "pixel_shuffle":
        f = int(a["factor"])
        _need(c % (f * f) == 0, node, f"{c} channels not divisible by {f * f}")
        out = (c // (f * f), h * f, w * f)
    elif op == "pixel_unshuffle":
        f = int(a["factor"])
        _need(h % f == 0 and w % f == 0, node, f"size {h}x{w} not divisible by {f}")
        out = (c * f * f, h // f, w // f)
    elif op == "concat":
        _need(all(s[1:] == (h, w) for s in shapes), node, f"inputs differ in size: {shapes}")
        out = (sum(s[0] for s in shapes), h, w)
    elif op == "resize_bilinear":
        out = (c, shapes[1][1], shapes[1][2])
    elif op == "global_avg_pool":
        out = (c, 1, 1)
    elif op in ("softmax", "sigmoid", "relu"):
        out = (c, h, w)
    elif op == "max_pool":
        k, s, p = int(a["kernel"]), int(a["stride"]), int(a["padding"])
        out = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    elif op in ("add", "weighted_add"):
        _need(shapes[0] == shapes[1], node, f"input shapes differ: {shapes[0]} vs {shapes[1]}")
        W = {"wa": (1,), "wb": (1,)} if op == "weighted_add" else {}
        out = (c, h, w)
    elif op == "reflect_pad":
        m = int(a["multiple"])
        out = (c, ops.round_up(h, m), ops.round_up(w, m))
    elif op == "crop":
        _need(shapes[1][1] <= h and shapes[1][2] <= w, node, "crop larger than input")
        out = (c, shapes[1][1], shapes[1][2])
    elif op == "mix_components":
        _need(h == 1 and w == 1, node, "input must be Lx1x1")
        wt = node["weights"].get("components")
        s = tensor_shapes.get(wt) if wt else None
        _need(s is not None and len(s) == 4, node, "weight tensor 'components' missing or not 4-D")
        W = {"components": (c, s[1], s[2], s[3])}
        out = (s[1], s[2], s[3])
    else:  # pragma: no cover - OPS and this table are kept in step
        raise ModelFileError(f"node '{node['name']}': no shape rule for op '{op}'")
    W = {k: v for k, v in W.items() if k in required or k in optional}
    return out, W


# Limits the Rust reader enforces too (src/model/validate.rs, src/model/op.rs).
MAX_PROMPT_CROP = 4096
MAX_ATTR = 65535


def validate(doc: dict, tensor_shapes: dict[str, tuple], tensor_dtypes: dict[str, str] | None = None, probe=(37, 53)) -> None:
    """Check every rule of docs/model-format.md; raise ModelFileError naming the culprit.
    `restore` is checked at `probe`, the odd size the Rust reader checks too (padding to a
    multiple and cropping back must give the image's shape)."""
    if doc.get("format") != FORMAT:
        raise ModelFileError(f"format is '{doc.get('format')}', expected '{FORMAT}'")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"unsupported format version {doc.get('version')} (this reader knows {VERSION})")
    for key in ("degradations", "functions", "config"):
        if key not in doc:
            raise ModelFileError(f"graph document has no '{key}'")
    # A model with degradation types has a Prompt Net (`classify`, `prompt`) whose
    # probabilities `restore` takes; one without (an imported PromptIR or Restormer)
    # restores from the image alone and has neither.
    k = len(doc["degradations"])
    if k and "prompt" not in doc:
        raise ModelFileError("graph document has no 'prompt'")
    if not k and "prompt" in doc:
        raise ModelFileError("graph document has 'prompt' but no degradation types (there is no Prompt Net)")
    if not k and "classify" in doc["functions"]:
        raise ModelFileError("graph has function 'classify' but no degradation types to classify")
    if not isinstance(doc.get("architecture", ""), str):
        raise ModelFileError(f"'architecture' must be a string, got {doc['architecture']!r}")
    tasks = doc.get("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise ModelFileError(f"'tasks' must be a list of strings, got {tasks!r}")
    for name, dtype in (tensor_dtypes or {}).items():
        if dtype not in ("F32", "F16"):
            raise ModelFileError(f"tensor '{name}' has dtype {dtype}; only F32 and F16 are allowed")
    used: set[str] = set()
    for fname in ("classify", "restore") if k else ("restore",):
        if fname not in doc["functions"]:
            raise ModelFileError(f"graph has no function '{fname}'")
    crop = None
    if k:
        crop = int(doc["prompt"]["crop"])
        if not 1 <= crop <= MAX_PROMPT_CROP or int(doc["prompt"]["max_crops"]) < 1:
            raise ModelFileError(f"prompt: crop must be 1 to {MAX_PROMPT_CROP} and max_crops at least 1, got {doc['prompt']}")
    entry_inputs = {"restore": [3, k], "classify": [3]} if k else {"restore": [3]}
    for fname, want in entry_inputs.items():
        got = [int(i["channels"]) for i in doc["functions"][fname]["inputs"]]
        if got != want:
            raise ModelFileError(f"function '{fname}': inputs must have {want} channels, got {got}")
    for fname, fn in doc["functions"].items():
        sizes = {"classify": (crop, crop)}.get(fname, probe)
        shapes = {}
        for inp in fn["inputs"]:
            c = int(inp["channels"])
            shapes[inp["name"]] = (c, 1, 1) if inp["name"] == "probs" else (c, *sizes)
            if inp["name"] == "probs" and c != k:
                raise ModelFileError(f"function '{fname}': input 'probs' has {c} channels but there are {k} degradation types")
        for node in fn["nodes"]:
            for key in ("name", "op", "inputs", "outputs"):
                if key not in node:
                    raise ModelFileError(f"function '{fname}': a node has no '{key}'")
            for i in node["inputs"]:
                if i not in shapes:
                    raise ModelFileError(f"node '{node['name']}' uses value '{i}' before it is produced")
            for slot, t in node.get("weights", {}).items():
                if t not in tensor_shapes:
                    raise ModelFileError(f"node '{node['name']}': weight tensor '{t}' ({slot}) is missing from the file")
            for key, v in node.get("attrs", {}).items():
                integral = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
                if integral and not isinstance(v, bool) and v > MAX_ATTR:
                    raise ModelFileError(f"node '{node['name']}': attribute '{key}' is {v}, over the limit of {MAX_ATTR}")
            out, want = infer_node(node, [shapes[i] for i in node["inputs"]], tensor_shapes)
            op = node["op"]
            _, required, optional, _ = ops.OPS[op]
            for slot in node.get("weights", {}):
                if slot not in required and slot not in optional:
                    raise ModelFileError(f"node '{node['name']}' ({op}): unexpected weight slot '{slot}'")
            for slot in required:
                _need(slot in node.get("weights", {}), node, f"weight slot '{slot}' not given")
            for slot, t in node.get("weights", {}).items():
                if tuple(tensor_shapes[t]) != tuple(want[slot]):
                    raise ModelFileError(
                        f"node '{node['name']}': tensor '{t}' has shape {list(tensor_shapes[t])}, expected {list(want[slot])}"
                    )
                used.add(t)
            if len(node["outputs"]) != 1:
                raise ModelFileError(f"node '{node['name']}' must have exactly one output")
            for o in node["outputs"]:
                if o in shapes:
                    raise ModelFileError(f"node '{node['name']}': value '{o}' is produced twice")
                shapes[o] = out
        for o in fn["outputs"]:
            if o not in shapes:
                raise ModelFileError(f"function '{fname}': output '{o}' is never produced")
        # What the runtime assumes of the entry points (src/model/validate.rs does the same).
        want_out = {"restore": (3, *probe), "classify": (k, 1, 1)}.get(fname)
        if want_out and tuple(shapes[fn["outputs"][0]]) != want_out:
            raise ModelFileError(
                f"function '{fname}': output '{fn['outputs'][0]}' must be {want_out}, got {tuple(shapes[fn['outputs'][0]])}"
            )
    unused = sorted(set(tensor_shapes) - used)
    if unused:
        raise ModelFileError(f"tensor '{unused[0]}' is not referenced by any node ({len(unused)} unreferenced)")


# ---------------------------------------------------------------- running


def run_node(node: dict, values: list[torch.Tensor], tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    fn = ops.OPS[node["op"]][0]
    kwargs = dict(node.get("attrs", {}))
    for slot, t in node.get("weights", {}).items():
        kwargs[slot] = tensors[t]
    return fn(*values, **kwargs)


def run_function(doc: dict, tensors: dict[str, torch.Tensor], name: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Execute function `name` of a graph document; inputs/outputs are (1,C,H,W) tensors."""
    fn = doc["functions"][name]
    # Each value is dropped after its last reader, as an eager nn.Module's locals are: keeping
    # every intermediate alive would need the sum of all values (16 GB at one megapixel for
    # the small model) instead of the largest live set.
    last_read = {i: k for k, node in enumerate(fn["nodes"]) for i in node["inputs"]}
    keep = set(fn["outputs"])
    values = dict(inputs)
    for k, node in enumerate(fn["nodes"]):
        values[node["outputs"][0]] = run_node(node, [values[i] for i in node["inputs"]], tensors)
        for i in set(node["inputs"]):
            if last_read[i] == k and i not in keep:
                del values[i]
    return {o: values[o] for o in fn["outputs"]}


# ---------------------------------------------------------------- files

_DTYPES = {torch.float32: "F32", torch.float16: "F16"}


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file byte-deterministically, atomically (temp file + rename).

    The safetensors package serializes `__metadata__` from a hash map, so its key order
    (and the file's bytes) vary between runs; fixtures must regenerate byte-identically.
    """
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for b in blobs:
            f.write(b)
    tmp.replace(path)



def save_model_file(path: str | Path, doc: dict, tensors: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> None:
    validate(doc, {k: tuple(v.shape) for k, v in tensors.items()})
    meta = {"format": FORMAT, "format_version": str(VERSION), "graph": json.dumps(doc, sort_keys=True, separators=(",", ":"))}
    write_safetensors(path, {k: v.to(dtype) for k, v in tensors.items()}, meta)


def load_model_file(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and validate a model file; weights come back as f32."""
    path = str(path)
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as e:  # safetensors raises several types for corrupt files
        raise ModelFileError(f"{path}: not a readable safetensors file ({e})") from e
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: metadata 'format' is {meta.get('format')!r}, expected '{FORMAT}'")
    if meta.get("format_version") != str(VERSION):
        raise ModelFileError(f"{path}: unsupported format version {meta.get('format_version')!r} (this reader knows {VERSION})")
    try:
        doc = json.loads(meta["graph"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: metadata 'graph' is missing or not JSON ({e})") from e
    dtypes = {k: {torch.float32: "F32", torch.float16: "F16"}.get(v.dtype, str(v.dtype)) for k, v in tensors.items()}
    validate(doc, {k: tuple(v.shape) for k, v in tensors.items()}, dtypes)
    # Fresh (aligned) copies: oneDNN picks other kernels for the unaligned views that
    # load_file returns, which changes results in the last bits.
    return doc, {k: v.to(torch.float32).clone() for k, v in tensors.items()}


class FileModel:
    """The forward pass rebuilt from a model file alone (round trip of the exporter)."""

    def __init__(self, path, dtype: torch.dtype = torch.float32):
        self.doc, self.tensors = load_model_file(path)
        self.tensors = {k: v.to(dtype) for k, v in self.tensors.items()}

    def classify(self, img: torch.Tensor, max_crops: int | None = None) -> torch.Tensor:
        """Averaged Prompt Net probabilities (1, K); (1, 0) for a model without one."""
        from .model import sample_crops

        if not self.doc["degradations"]:
            return torch.zeros(1, 0, dtype=img.dtype)
        p = self.doc["prompt"]
        crops = sample_crops(img, int(p["crop"]), max_crops or int(p["max_crops"]))
        outs = [run_function(self.doc, self.tensors, "classify", {"crop": c})["probs"] for c in crops]
        return torch.stack(outs).mean(0).flatten(1)

    def restore(self, img: torch.Tensor, probs: torch.Tensor | None = None, ensemble: bool = False):
        """Restored image and the probabilities used; `ensemble`: self-ensemble (ensemble.py).
        A model without a Prompt Net takes no probabilities and returns empty ones (1, 0)."""
        if probs is None:
            probs = self.classify(img)
        p = probs.reshape(1, -1, 1, 1)
        # `restore` takes `probs` only when the model has degradation types (validate).
        extra = {"probs": p} if self.doc["degradations"] else {}

        def once(x):
            return run_function(self.doc, self.tensors, "restore", {"image": x, **extra})["restored"]

        if ensemble:
            from .ensemble import ensemble_for

            return ensemble_for(self.doc["degradations"], probs, once, img), probs
        return once(img), probs
