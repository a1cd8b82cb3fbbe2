"""Bad arguments fail at the boundary with a clear ConfigError."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fedcrm import ConfigError, FedcrmError
from fedcrm.synth import generate_federation
from fedcrm.synth.federation import draw_org_size


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_orgs": 0}, "n_orgs must be at least 1, got 0"),
    ({"n_orgs": -3}, "n_orgs must be at least 1"),
    ({"n_orgs": 2.5}, "n_orgs must be a whole number"),
    ({"n_orgs": True}, "n_orgs must be a whole number"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"accounts": (0, 100)}, r"accounts must be positive"),
    ({"accounts": (-5, 100)}, r"accounts must be positive"),
    ({"accounts": (500, 100)}, "accounts: min 500 is greater than max 100"),
    ({"accounts": (10,)}, r"accounts must be a \(min, max\) pair"),
    ({"accounts": "10-20"}, r"accounts must be a \(min, max\) pair"),
    ({"accounts": (10.5, 20)}, "accounts bounds must be whole numbers"),
    ({"scale": 0}, "scale must be a positive number, got 0"),
    ({"scale": -1.0}, "scale must be a positive number"),
    ({"scale": float("nan")}, "scale must be a positive number"),
    ({"scale": "big"}, "scale must be a number"),
    ({"languages": ("en", "xx")}, r"unknown language\(s\) \['xx'\]"),
    ({"languages": ()}, "languages must name at least one"),
    ({"languages": ("de", "de")}, "lists a language twice"),
    ({"languages": {"en", "de"}}, r"languages must be a list or tuple .* not a set"),
    ({"progress": "x"}, "progress must be a function"),
    ({"reference_date": "2025-13-40"}, "reference_date must be an ISO date"),
    ({"reference_date": dt.date(1990, 1, 1)}, "reference_date must lie between"),
    ({"completeness": (0.9, 0.5)}, "completeness: min 0.9 is greater than max 0.5"),
    ({"recency": (0.2, 1.5)}, r"recency bounds must lie in \[0, 1\]"),
    ({"label_reliability": (-0.1, 0.5)}, "label_reliability bounds must lie in"),
    ({"custom_object_rate": 2}, "custom_object_rate must be a share"),
    ({"min_accounts": 0}, "min_accounts must be at least 1"),
    ({"scale": 1e9}, "scale 1000000000.0 makes orgs of up to .* at most 5,000,000 accounts"),
    ({"scale": 101.0}, r"scale 101.0 makes orgs of up to 5,050,000 accounts"),
    ({"min_accounts": 10**9}, "min_accounts must be at most 5000000, got 1000000000"),
])
def test_bad_arguments_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        generate_federation(**kwargs)
    assert isinstance(info.value, FedcrmError) and isinstance(info.value, ValueError)


def test_languages_accept_a_comma_separated_string() -> None:
    federation = generate_federation(2, seed=0, accounts=(20, 20), languages="de, fr")
    assert {org.profile.language for org in federation.orgs} == {"de", "fr"}
    assert federation.params.languages == ("de", "fr")


def test_one_org_and_tiny_scale_work() -> None:
    federation = generate_federation(1, seed=0, scale=1e-6)
    org = federation.orgs[0]
    assert org.profile.n_accounts == federation.params.min_accounts == 20
    assert len(org.tables["Account"]) == 20


def test_scale_controls_the_record_count() -> None:
    small = generate_federation(3, seed=2, scale=0.01)
    large = generate_federation(3, seed=2, scale=0.04)
    count = [sum(sum(o.records.values()) for o in f.orgs) for f in (small, large)]
    assert 3 < count[1] / count[0] < 5
    # the same seed keeps every org's schema when only the scale changes
    assert [o.schema for o in small.orgs] == [o.schema for o in large.orgs]


def test_org_sizes_are_log_uniform_within_the_range() -> None:
    rng = np.random.default_rng(0)
    sizes = np.array([draw_org_size(rng, (100, 10_000), 1.0, 20) for _ in range(4000)])
    assert sizes.min() >= 100 and sizes.max() <= 10_000
    # log-uniform: each decade holds half the orgs, unlike a uniform draw (about 9%)
    assert 0.46 < (sizes < 1000).mean() < 0.54
    full = draw_org_size(np.random.default_rng(1), (100, 10_000), 1.0, 1)
    half = draw_org_size(np.random.default_rng(1), (100, 10_000), 0.5, 1)
    assert abs(half - full / 2) <= 1
    assert draw_org_size(rng, (100, 100), 0.01, 20) == 20


def test_orgs_of_one_account_are_generated_not_crashed() -> None:
    # an org with no cases or no site visits raised numpy's "zero-size array" ValueError
    from fedcrm.synth import generate_federation

    for seed in range(6):
        federation = generate_federation(1, seed=seed, accounts=(1, 1), scale=1.0,
                                         min_accounts=1)
        assert len(federation.orgs[0].tables["Account"]) == 1
