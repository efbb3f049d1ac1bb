"""Run the rule checks over a model and collect their findings (the rules themselves live in tpulint.checks)."""

from __future__ import annotations

from typing import Sequence

from tpulint.config import Config
from tpulint.findings import Finding
from tpulint.graph import Graph
from tpulint.model import Model


def check(model: Model, graphs: Sequence[Graph], config: Config) -> list[Finding]:
    """Every finding of every rule, unfiltered (select/ignore apply to reporting, not to prediction)."""
    from tpulint.checks import run_checks

    return run_checks(model, graphs, config)
