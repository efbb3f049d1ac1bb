"""tpulint: predict what the Edge TPU compiler will do to a TFLite model, without the compiler.

    >>> import tpulint
    >>> report = tpulint.analyze("model.tflite", compiler="16.0")
    >>> report.tpu_ops, report.cpu_ops

Heavy modules are imported on first use so that `import tpulint` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpulint._version import __version__
from tpulint.errors import ModelError, RulesError, TpulintError

if TYPE_CHECKING:
    from tpulint.analysis import ModelReport, analyze
    from tpulint.config import Config
    from tpulint.findings import Confidence, Effect, Finding, Location, Severity

_LAZY = {
    "analyze": "tpulint.analysis", "ModelReport": "tpulint.analysis", "Config": "tpulint.config",
    "Finding": "tpulint.findings", "Location": "tpulint.findings", "Severity": "tpulint.findings",
    "Confidence": "tpulint.findings", "Effect": "tpulint.findings", "read_model": "tpulint.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tpulint' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["__version__", "analyze", "ModelReport", "Config", "Finding", "Location", "Severity", "Confidence",
           "Effect", "ModelError", "RulesError", "TpulintError", "read_model"]
