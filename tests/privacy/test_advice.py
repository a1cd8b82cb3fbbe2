"""ε advice: ordered tiers, monotone in data size, capped; sensitivity analysis; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedcrm.errors import ConfigError
from fedcrm.privacy import (
    PrivacyLedger,
    RecordLevelDP,
    Tier,
    advise_epsilon,
    sensitivity_analysis,
)
from fedcrm.privacy.advice import _tier_cap
from fedcrm.privacy.cli import app

SIZES = [50, 200, 1_000, 2_500, 5_000, 10_000, 30_000, 100_000, 1_000_000]


@pytest.mark.parametrize("n_samples", SIZES)
def test_tiers_are_ordered_for_the_same_data_size(n_samples: int) -> None:
    strict, standard, relaxed = (advise_epsilon(n_samples, tier).epsilon for tier in Tier)
    assert strict <= standard <= relaxed


@pytest.mark.parametrize("tier", list(Tier))
def test_advice_is_monotone_in_data_size_within_the_cap(tier: Tier) -> None:
    advice = [advise_epsilon(n, tier) for n in SIZES]
    epsilons = [a.epsilon for a in advice]
    # more records ⇒ the same utility at a smaller ε ⇒ never a larger recommendation
    assert epsilons == sorted(epsilons, reverse=True)
    assert all(a.epsilon <= a.epsilon_cap for a in advice)
    assert all(a.epsilon > 0 for a in advice)


def test_the_advice_never_rounds_above_the_tier_cap() -> None:
    # n = 1001, standard tier: the cap is 7.9989…, which rounding to 2 decimals made 8.0
    for n_samples in (1001, 1002, 1500, 2345):
        advice = advise_epsilon(n_samples, "standard")
        assert advice.epsilon <= _tier_cap(advice.tier, n_samples)
        assert advice.epsilon_cap <= _tier_cap(advice.tier, n_samples)
    assert advise_epsilon(1001, "standard").epsilon == 7.99


def test_caps_follow_the_documented_rule() -> None:
    assert advise_epsilon(100, Tier.STRICT).epsilon == 2.0
    assert advise_epsilon(1_000_000, Tier.STRICT).epsilon <= 1.0
    assert advise_epsilon(100, Tier.STANDARD).epsilon == 8.0
    assert advise_epsilon(100, Tier.RELAXED).epsilon == 10.0
    # large data: the utility rule, not the cap, decides, and it is below every cap
    large = advise_epsilon(100_000, Tier.STANDARD)
    assert large.epsilon == pytest.approx(0.95, abs=0.01)
    assert large.epsilon < large.epsilon_cap


def test_small_data_needs_larger_epsilon_but_the_cap_wins() -> None:
    small, large = advise_epsilon(500, Tier.STANDARD), advise_epsilon(50_000, Tier.STANDARD)
    assert small.epsilon_for_utility > large.epsilon_for_utility
    assert small.epsilon == small.epsilon_cap < small.epsilon_for_utility
    assert "cap wins" in small.rationale
    assert any("only 500 records" in warning for warning in small.warnings)


def test_rationale_and_delta() -> None:
    advice = advise_epsilon(5_000, "standard")
    assert advice.tier is Tier.STANDARD
    assert advice.epsilon == pytest.approx(4.24, abs=0.01)
    assert "n=5000" in advice.rationale and "standard" in advice.rationale
    assert "Smaller ε is stronger privacy" in advice.rationale
    assert advice.delta < 1 / 5_000
    # the advice is a budget the engine accepts
    RecordLevelDP.from_budget(
        "org-a",
        epsilon=advice.epsilon,
        delta=advice.delta,
        n_samples=5_000,
        batch_size=500,
        rounds=1,
        accountant="rdp",
    )


@pytest.mark.parametrize(
    ("n_samples", "tier"), [(0, "standard"), (100, "lenient"), (True, "strict")]
)
def test_bad_advice_requests_are_refused(n_samples: int, tier: str) -> None:
    with pytest.raises(ConfigError):
        advise_epsilon(n_samples, tier)


def test_sensitivity_analysis_reports_the_cost_of_each_step() -> None:
    calls: list[float] = []

    def train_fn(epsilon: float) -> float:
        calls.append(epsilon)
        return 0.9 - 0.2 / epsilon  # utility falls as privacy tightens

    rows = sensitivity_analysis(train_fn, [1.0, 8.0, 0.5, 2.0], non_private_utility=0.9)
    assert calls == [8.0, 2.0, 1.0, 0.5]  # weakest privacy first, each ε trained once
    assert [row.epsilon for row in rows] == [8.0, 2.0, 1.0, 0.5]
    assert rows[0].step_cost is None
    assert [row.step_cost for row in rows[1:]] == pytest.approx([0.075, 0.1, 0.2])
    assert [row.total_cost for row in rows] == pytest.approx([0.025, 0.1, 0.2, 0.4])
    assert rows[-1].relative_cost == pytest.approx(0.4 / 0.9)
    # table-ready
    assert set(rows[0].model_dump()) == {
        "epsilon",
        "utility",
        "step_cost",
        "total_cost",
        "relative_cost",
    }


def test_sensitivity_analysis_without_baseline_uses_the_largest_epsilon() -> None:
    rows = sensitivity_analysis(lambda epsilon: epsilon / 10, [2.0, 4.0])
    assert [row.total_cost for row in rows] == pytest.approx([0.0, 0.2])


@pytest.mark.parametrize("epsilons", [[], [0.0, 1.0], [1.0, 1.0], [float("inf")]])
def test_sensitivity_analysis_validates_epsilons(epsilons: list[float]) -> None:
    with pytest.raises(ConfigError):
        sensitivity_analysis(lambda epsilon: 0.5, epsilons)


def test_cli_advise_prints_a_table() -> None:
    result = CliRunner().invoke(app, ["advise", "--n-samples", "5000", "--tier", "standard"])
    assert result.exit_code == 0, result.output
    assert "recommended ε" in result.output
    assert "4.24" in result.output
    assert "standard tier" in result.output


def test_cli_advise_json_matches_the_library() -> None:
    result = CliRunner().invoke(app, ["advise", "--n-samples", "800", "--tier", "strict", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == advise_epsilon(800, "strict").model_dump(mode="json")


def test_cli_refuses_bad_input_without_a_traceback() -> None:
    result = CliRunner().invoke(app, ["advise", "--n-samples", "0"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["advise", "--n-samples", "10", "--tier", "lenient"])
    assert result.exit_code != 0


def test_cli_ledger_summarises_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    RecordLevelDP.from_budget(
        "org-a",
        epsilon=2.0,
        delta=1e-3,
        n_samples=100,
        batch_size=10,
        rounds=2,
        accountant="rdp",
        ledger=PrivacyLedger(path),
    )
    runner = CliRunner(env={"COLUMNS": "160"})
    result = runner.invoke(app, ["ledger", str(path)])
    assert result.exit_code == 0, result.output
    assert "org-a" in result.output and "0/2" in result.output and "active" in result.output
    result = runner.invoke(app, ["ledger", str(path), "--json"])
    (summary,) = json.loads(result.output)
    assert summary["participant_id"] == "org-a" and summary["epsilon_spent"] == 0.0
    missing = runner.invoke(app, ["ledger", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
