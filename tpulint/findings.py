"""Finding: one problem tpulint found, with its severity, confidence, placement effect and symbolic location."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Callable

from tpulint.model_types import fast_constructor


class Severity(IntEnum):
    """What happens if the finding is ignored."""

    INFO = 10  # advisory, or a caveat tpulint cannot verify
    WARNING = 20  # may fall back to the CPU (size- or data-dependent), or costs speed
    ERROR = 30  # falls back to the CPU, or the compiler rejects the model

    def __str__(self) -> str:
        return self.name.lower()


class Confidence(str, Enum):
    """How sure tpulint is, by the kind of evidence behind the rule."""

    DOCUMENTED = "documented"  # Coral documentation or a maintainer says so
    OBSERVED = "observed"  # seen in real compiler output (corpus, logs)
    HEURISTIC = "heuristic"  # a threshold inferred from a few observations

    def __str__(self) -> str:
        return self.value


class Effect(str, Enum):
    """What the finding does to the partition."""

    NONE = "none"  # advisory only
    CPU = "cpu"  # this op will not be mapped
    MODEL = "model"  # the compiler rejects the whole model

    def __str__(self) -> str:
        return self.value


# The compiler's own per-op status strings (COMPILER.md section 4.3).
MAPPED = "Mapped to Edge TPU"
MORE_THAN_ONE_SUBGRAPH = "More than one subgraph is not supported"
UNSPECIFIED_LIMITATION = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
UNSUPPORTED_DATA_TYPE = "Operation is working on an unsupported data type"
NOT_SUPPORTED = "Operation not supported"
UNSUPPORTED_RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
NOT_CONSTANT = "Filter, bias, or other param is not constant at compile-time"
VERSION_NOT_SUPPORTED = "Operation version not supported"
TWO_D_OUTPUT = "For example, a fully-connected or softmax layer with 2D output"
MODEL_REJECTED = "Model could not be compiled"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points: a model, a subgraph, an operator, or one of its tensors (no line numbers in a model)."""

    subgraph: int | None = None
    operator: int | None = None
    op_type: str | None = None
    tensor: int | None = None
    tensor_name: str | None = None

    def path(self) -> str:
        """Symbolic path, e.g. `subgraph[0]/op[12] CONV_2D/tensor[5] 'conv1/weights'`."""
        parts = []
        if self.subgraph is not None:
            parts.append(f"subgraph[{self.subgraph}]")
        if self.operator is not None:
            parts.append(f"op[{self.operator}] {self.op_type}" if self.op_type else f"op[{self.operator}]")
        if self.tensor is not None:
            parts.append(f"tensor[{self.tensor}] {self.tensor_name!r}" if self.tensor_name is not None else f"tensor[{self.tensor}]")
        return "/".join(parts) or "model"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule violation. `status` is what the real compiler would print for the op; `fix` is specific to this case."""

    code: str
    name: str
    severity: Severity
    confidence: Confidence
    effect: Effect
    message: str
    location: Location
    status: str | None = None
    fix: str | None = None
    path: str = ""
    # a size limit the op is over: (measured, limit, power), the measure growing as the input side ** power
    threshold: tuple[int, int, int] | None = None

    def fingerprint(self) -> str:
        """Stable identity for baselines and SARIF: the code, the op type and the tensor name, never indices or paths."""
        loc = self.location
        key = "\x1f".join([self.code, loc.op_type or "", loc.tensor_name or "", str(loc.subgraph), self.name])
        return hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:32]

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.subgraph if loc.subgraph is not None else -1, loc.operator if loc.operator is not None else -1,
                self.code, loc.tensor if loc.tensor is not None else -1)


# Positional constructors that skip the frozen dataclasses' per-field object.__setattr__ (a model with
# hundreds of CPU ops makes, then grades, a finding and a location for each).
new_location: Callable[..., Location] = fast_constructor(Location)
new_finding: Callable[..., Finding] = fast_constructor(Finding)
