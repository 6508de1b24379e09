"""Dynamic int8 ``Linear`` layers on PyTorch's CPU kernels, kept only where they are faster.

``torch.ao.quantization`` (eager-mode ``quantize_dynamic``) is deprecated, and its modules
warn again whenever a model is unpickled. The kernels themselves are not: this module stores
the int8 weights and per-channel scales as plain buffers (so a model pickles cleanly and small)
and calls ``quantized::linear_dynamic`` directly, packing the weights once per process.
Activations are quantized on the fly per batch; the result is a real int8 matrix product with
a CPU latency gain on large batches, unlike simulated (fake-quant) quantization.

On small shapes and single rows int8 can be several times slower than fp32 (quantizing the
activations and the packed-weight call cost more than the product), so :func:`quantize_int8`
times every layer both ways and converts only those that win.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Int8Linear", "int8_available", "quantize_int8"]

logger = logging.getLogger("featsmith")


def int8_available() -> bool:
    """Whether this torch build has the dynamic int8 linear kernels (fbgemm / x86 / onednn / qnnpack).

    Examples
    --------
    >>> isinstance(int8_available(), bool)
    True
    """
    try:
        ops = torch.ops.quantized
        _ = ops.linear_dynamic, ops.linear_prepack
        engines = [e for e in torch.backends.quantized.supported_engines if e != "none"]
        return bool(engines) and hasattr(torch, "_make_per_channel_quantized_tensor")
    except (AttributeError, RuntimeError):
        return False


def _quiet():
    """Silence torch's deprecation notices about quantized tensors: they concern the eager-mode
    API, not the kernels used here, and must not reach the user."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", FutureWarning)
    return ctx


class Int8Linear(nn.Module):
    """A ``Linear`` layer with int8 weights (per output channel, symmetric) computed by the
    dynamic-quantization CPU kernel for batches of ``min_batch`` rows or more; smaller
    batches, where int8 is slower, multiply by the dequantized weights in fp32. Input and output
    are float32. Only the int8 weights are stored (and pickled).

    The activations are quantized per batch (dynamic quantization), so a row's prediction can
    differ in the last digits with the other rows of its batch.

    Parameters
    ----------
    in_features, out_features : int
    min_batch : int, default=0
        Smallest batch that uses the int8 kernel. Build one with :meth:`from_float`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(16, 4)
    >>> q = Int8Linear.from_float(lin)
    >>> x = torch.randn(3, 16)
    >>> bool((q(x) - lin(x)).abs().max() < 0.05)
    True
    """

    def __init__(self, in_features: int, out_features: int, min_batch: int = 0):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.min_batch = int(min_batch)
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features, dtype=torch.float64))
        # A parameter (frozen) so that code asking a model for its device or dtype finds one.
        self.bias = nn.Parameter(torch.zeros(out_features), requires_grad=False)
        self._packed = self._weight = None

    @classmethod
    @torch.no_grad()
    def from_float(cls, linear: nn.Linear, min_batch: int = 0) -> "Int8Linear":
        w = linear.weight.detach().to(torch.float64).cpu()
        scale = w.abs().amax(dim=1) / 127.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        out = cls(linear.in_features, linear.out_features, min_batch)
        out.qweight.copy_(torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        out.scale.copy_(scale)
        if linear.bias is not None:
            out.bias.copy_(linear.bias.detach().float())
        return out

    def _pack(self):
        ctx = _quiet()
        try:
            qw = torch._make_per_channel_quantized_tensor(
                self.qweight, self.scale, torch.zeros(self.out_features, dtype=torch.long), 0)
            self._packed = torch.ops.quantized.linear_prepack(qw, self.bias.detach().float())
        finally:
            ctx.__exit__(None, None, None)
        return self._packed

    def _dequantized(self):
        if self._weight is None:
            self._weight = (self.qweight.double() * self.scale[:, None]).float()
        return self._weight

    def forward(self, x):
        x = x.float()
        if x.shape[0] < self.min_batch:
            return F.linear(x, self._dequantized(), self.bias)
        packed = self._packed if self._packed is not None else self._pack()
        # reduce_range: 7-bit activations, which the x86 kernels need to avoid overflow.
        return torch.ops.quantized.linear_dynamic(x.contiguous(), packed, True)

    def __getstate__(self):
        state = self.__dict__.copy()
        # Packed and dequantized weights are process-local caches, rebuilt on first use.
        state["_packed"] = state["_weight"] = None
        return state

    def _apply(self, fn, *args, **kwargs):
        self._packed = self._weight = None
        out = super()._apply(fn, *args, **kwargs)
        # Keep the kernel's types whatever .to(dtype) / .double() asked for.
        self.bias.data = self.bias.data.float()
        self.scale.data = self.scale.data.double()
        return out

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, dtype=int8, "
                f"min_batch={self.min_batch}")


def _time(fn, min_seconds: float) -> float:
    """Median seconds per call over about ``min_seconds`` of repeated calls."""
    fn()
    runs = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(runs) < 5:
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2]


@torch.no_grad()
def _benchmark_layer(linear: nn.Linear, q: Int8Linear, batch_sizes, min_seconds) -> dict:
    row = {}
    for b in batch_sizes:
        x = torch.randn(b, linear.in_features)
        row[f"fp32_us_{b}"] = 1e6 * _time(lambda: F.linear(x, linear.weight, linear.bias), min_seconds)
        row[f"int8_us_{b}"] = 1e6 * _time(lambda: q(x), min_seconds)
    return row


def quantize_int8(model: nn.Module, *, batch_sizes=(1, 16, 128, 1024, 4096), min_seconds: float = 0.01,
                  benchmark: bool = True) -> nn.Module:
    """A float32 copy of ``model`` whose ``Linear`` layers are int8 where that is faster.

    Each ``Linear`` is timed in fp32 and int8 at every batch size in ``batch_sizes`` with
    the current torch thread count. A layer becomes an :class:`Int8Linear` when the int8
    kernel is faster at the largest batch; it then uses that kernel from the smallest measured
    batch size above which int8 won every measurement, and fp32 (dequantized weights) below,
    so single rows are never slower. Layers where int8 never wins stay fp32 ``Linear``.
    Without the int8 kernels in the installed torch, the float32 copy is returned and one line
    is logged.

    Parameters
    ----------
    model : torch.nn.Module
        For example a shrunken head from :func:`featsmith.compress.shrink`.
    batch_sizes : tuple of int, default=(1, 16, 128, 1024, 4096)
    min_seconds : float, default=0.01
        Timing per layer, precision and batch size.
    benchmark : bool, default=True
        False converts every ``Linear`` without timing.

    Returns
    -------
    torch.nn.Module
        With ``int8_report_``: one dict per ``Linear`` (name, shape, timings in microseconds,
        ``int8`` decision and ``min_batch``).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    >>> small = quantize_int8(model, batch_sizes=(1, 1024), min_seconds=0.005)
    >>> [row["layer"] for row in small.int8_report_]
    ['0', '2']
    >>> small(torch.randn(5, 256)).shape
    torch.Size([5, 1])
    """
    out = copy.deepcopy(model).float().eval()
    if not int8_available():
        logger.warning("int8 quantization is not available in this torch build (no quantized::linear_dynamic "
                       "kernel); the model keeps fp32 weights.")
        out.int8_report_ = []
        return out
    report = []
    names = [(n, m) for n, m in out.named_modules() if type(m) is nn.Linear]
    sizes = sorted(batch_sizes)
    for name, linear in names:
        row = {"layer": name, "in_features": linear.in_features, "out_features": linear.out_features}
        if benchmark:
            row.update(_benchmark_layer(linear, Int8Linear.from_float(linear), sizes, min_seconds))
            wins = [row[f"int8_us_{b}"] < row[f"fp32_us_{b}"] for b in sizes]
            # The smallest batch size from which int8 won every larger measurement too.
            start = len(sizes)
            while start > 0 and wins[start - 1]:
                start -= 1
            row["int8"] = start < len(sizes)
            row["min_batch"] = sizes[start] if row["int8"] else None
        else:
            row["int8"], row["min_batch"] = True, 0
        if row["int8"]:
            parent_name, _, attr = name.rpartition(".")
            q = Int8Linear.from_float(linear, row["min_batch"])
            setattr(out.get_submodule(parent_name) if parent_name else out, attr, q)
        report.append(row)
    out.int8_report_ = report
    return out
