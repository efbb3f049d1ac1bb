"""The committed fixtures are exactly what fixtures/generate.py builds."""

from __future__ import annotations

import importlib.util

from conftest import FIXTURES


def test_fixtures_regenerate_byte_identical():
    spec = importlib.util.spec_from_file_location("generate", FIXTURES / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    built = generate.build_all()
    committed = {p.name: p.read_bytes() for p in FIXTURES.glob("*.tflite")}
    assert sorted(built) == sorted(committed)
    for name, data in built.items():
        assert data == committed[name], f"fixtures/{name} is stale; run python fixtures/generate.py"
