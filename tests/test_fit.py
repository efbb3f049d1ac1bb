"""bench/fit.py: how the size limits are fitted, and that the profiles hold the fit of the whole corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import CORPUS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import fit  # noqa: E402

from tpulint.profile import load_profile  # noqa: E402


def obs(case: str, op: int, value: int, mapped: bool, needs: bool = False, repo: str = "r") -> fit.Observation:
    return fit.Observation(case, repo, op, "TRANSPOSE", value, mapped, needs)


def test_limit_is_the_geometric_mean_of_the_tightest_bounds() -> None:
    observations = {"transpose_max_elements": [obs("a", 0, 57_600, True), obs("a", 1, 69_696, True),
                                               obs("b", 0, 104_000, False, True), obs("b", 1, 230_400, False, True),
                                               obs("b", 2, 20_000, False, False)]}
    (f,) = [x for x in fit.fit(observations, {}) if x.limit == "transpose_max_elements"]
    assert f.value == 85_137 and f.lower.value == 69_696 and f.upper.value == 104_000


def test_a_refusal_another_limit_explains_does_not_bound_this_one() -> None:
    observations = {
        "transpose_max_elements": [obs("a", 0, 50_000, True), obs("b", 0, 500_000, False, True)],
        # op b/0 also has a row of 120,000, but the transpose limit explains its refusal
        "tensor_row_max_elements": [obs("a", 1, 100_000, True), obs("b", 0, 120_000, False, True),
                                    obs("c", 0, 400_000, False, True)],
    }
    fits = {f.limit: f for f in fit.fit(observations, {})}
    assert fits["tensor_row_max_elements"].upper.case == "c"
    assert fits["tensor_row_max_elements"].value == 200_000


def test_leaving_a_repository_out_drops_its_bounds_and_external_bounds_count() -> None:
    observations = {"mean_max_reduced_elements": [obs("a", 0, 4_000, True, repo="x"),
                                                  obs("b", 0, 9_000, True, repo="y")]}
    external = {"mean_max_reduced_elements": {"refused": 32_768, "source": "#461"}}
    with_y = {f.limit: f for f in fit.fit(observations, external)}["mean_max_reduced_elements"]
    without_y = {f.limit: f for f in fit.fit(observations, external, exclude_repo="y")}["mean_max_reduced_elements"]
    assert (with_y.value, without_y.value) == (17_173, 11_448)
    assert with_y.upper.startswith("32,768 (#461")


def test_no_refusal_keeps_the_profile_value() -> None:
    (f,) = [x for x in fit.fit({"reshape_max_elements": [obs("a", 0, 10, True)]}, {}) if x.limit == "reshape_max_elements"]
    assert f.value is None and "reshape_max_elements" not in fit.overrides([f])


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/real is absent")
def test_profiles_hold_the_fit_of_the_whole_corpus() -> None:
    fits = fit.fit(fit.observe(CORPUS), fit.external_bounds())
    limits = load_profile("16.0").limits
    assert {f.limit: f.value for f in fits if f.value is not None} == {
        f.limit: limits[f.limit] for f in fits if f.value is not None}
    assert all(f.value is not None for f in fits)
