from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedcrm import ConfigError
from fedcrm.schema import profile_frame, profile_schema, profile_series
from fedcrm.schema.profile import k_aggregated_quantiles


def test_rare_categories_never_appear() -> None:
    values = ["Gold"] * 7 + ["Silver"] * 5 + ["Platinum"] * 4 + ["Secret-Customer-42"]
    profile = profile_series(pd.Series(values))
    assert {c.value: c.count for c in profile.categories} == {"Gold": 7, "Silver": 5}
    assert profile.n_suppressed_categories == 2
    strict = profile_series(pd.Series(values), k=6)
    assert [c.value for c in strict.categories] == ["Gold"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), min_size=0, max_size=80),
    st.integers(min_value=2, max_value=9),
)
def test_profile_categories_respect_k(values: list[str], k: int) -> None:
    profile = profile_series(pd.Series(values, dtype=object), k=k)
    counts = pd.Series(values, dtype=object).value_counts()
    for category in profile.categories:
        assert category.count >= k
        assert counts[category.value] == category.count
    assert profile.n_suppressed_categories == int((counts < k).sum())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=0, max_size=60),
    st.integers(min_value=2, max_value=8),
)
def test_quantiles_are_means_of_k_values(values: list[float], k: int) -> None:
    quantiles = k_aggregated_quantiles(np.array(values), k)
    if len(values) < k:
        assert quantiles == {}
        return
    ordered = np.sort(values)
    # disjoint blocks of k from the lowest, the last one with the remainder: never two windows
    # one value apart (their difference is two single records)
    n_blocks = len(values) // k
    blocks = [ordered[b * k:(b + 1) * k if b < n_blocks - 1 else len(values)].mean()
              for b in range(n_blocks)]
    for value in quantiles.values():
        assert any(np.isclose(value, block, rtol=1e-9, atol=1e-6) for block in blocks)
    levels = [quantiles[key] for key in ("0.05", "0.25", "0.5", "0.75", "0.95")]
    assert levels == sorted(levels)


def test_no_single_record_can_be_worked_out_of_a_profile() -> None:
    """A review recovered the largest of six amounts (k=5) as n·mean − (n−1)·q0.05, and 'one
    record is true' from true_rate 0.1 of 10 rows, where the category list suppressed it."""
    amounts = pd.Series([90.0, 120.0, 150.0, 180.0, 200.0, 9_999_999.0])
    profile = profile_series(amounts, k=5)
    assert profile.numeric_quantiles is not None and profile.numeric_mean is not None
    n = len(amounts)
    for level in profile.numeric_quantiles.values():
        for others in (n - 1, n - 5):
            guess = n * profile.numeric_mean - others * level
            assert not np.isclose(guess, amounts).any()
    quantiles = list(profile.numeric_quantiles.values())
    assert quantiles == [pytest.approx(amounts.mean())] * 5  # one block of six
    flags = profile_series(pd.Series([False] * 9 + [True]), k=5)
    assert flags.true_rate is None and flags.categories[0].value == "False"
    assert profile_series(pd.Series([False] * 5 + [True] * 5), k=5).true_rate == 0.5


def test_unique_numeric_values_never_leak() -> None:
    rng = np.random.default_rng(0)
    salaries = pd.Series(rng.normal(80_000, 15_000, size=200).round(2))
    profile = profile_series(salaries)
    assert profile.categories == ()  # 200 distinct values: no category vocabulary
    raw = set(salaries.tolist())
    assert not raw & set(profile.numeric_quantiles.values())
    assert profile.numeric_mean == pytest.approx(salaries.mean())
    assert 60_000 < profile.numeric_quantiles["0.5"] < 100_000


def test_null_rate_distinct_ratio_and_patterns() -> None:
    series = pd.Series(
        ["ann@example.com", "bob@example.org", None, "", "https://acme.com", "+49 30 1234567",
         "2024-05-01", "0015g00000XyZaBAAV"]
    )
    profile = profile_series(series, k=2)
    assert profile.n_rows == 8
    assert profile.null_rate == pytest.approx(2 / 8)
    assert profile.distinct_ratio == pytest.approx(1.0)
    shares = profile.pattern_shares
    assert shares["email"] == pytest.approx(2 / 6)
    assert shares["url"] == pytest.approx(1 / 6)
    assert shares["phone"] == pytest.approx(1 / 6)
    assert shares["date"] == pytest.approx(1 / 6)
    assert shares["salesforce_id"] == pytest.approx(1 / 6)
    assert profile.length_mean is not None and profile.length_quantiles


def test_booleans_dates_and_small_numeric_vocabularies() -> None:
    flags = profile_series(pd.Series([True, False, True, True, None]), k=2)
    assert flags.true_rate is None  # one false record: its count would be under k
    flags = profile_series(pd.Series([True, False, True, True, False, True, None]), k=2)
    assert flags.true_rate == pytest.approx(4 / 6) and flags.numeric_quantiles == {}
    ratings = profile_series(pd.Series([1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]))
    assert {c.value for c in ratings.categories} == {"2", "3"}
    dates = profile_series(pd.Series(pd.to_datetime(["2024-01-01"] * 6 + ["2023-02-02"])))
    assert [c.value for c in dates.categories] == ["2024-01-01"]
    assert dates.pattern_shares["date"] == 1.0


def test_empty_and_all_null() -> None:
    empty = profile_series(pd.Series([], dtype=float))
    assert (empty.n_rows, empty.null_rate, empty.categories) == (0, 0.0, ())
    nulls = profile_series(pd.Series([None, None, None]))
    assert nulls.null_rate == 1.0 and nulls.categories == ()


def test_bad_k() -> None:
    with pytest.raises(ConfigError, match="k must be an integer >= 2"):
        profile_series(pd.Series([1, 2]), k=1)


def test_profile_frame_and_field_attachment() -> None:
    frame = pd.DataFrame({"Tier__c": ["Gold"] * 5 + ["Bronze"], "Seats__c": range(6)})
    profiles = profile_frame(frame)
    assert set(profiles) == {"Tier__c", "Seats__c"}
    from fedcrm.schema import DataKind, FieldMeta

    field = FieldMeta(api_name="Tier__c", kind=DataKind.PICKLIST).with_profile(profiles["Tier__c"])
    assert field.profile is not None and field.profile.categories[0].value == "Gold"


def test_profile_model_rejects_rare_categories() -> None:
    from pydantic import ValidationError

    from fedcrm.schema import FieldProfile

    with pytest.raises(ValidationError, match="fewer than k=5"):
        FieldProfile(k=5, n_rows=10, null_rate=0, distinct_ratio=0.5,
                     categories=({"value": "x", "count": 2},))


def test_a_list_is_profiled_and_infinite_numbers_stay_out_of_the_statistics() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, float("inf"), float("-inf")]
    profile = profile_series(values, k=2)
    assert profile.n_rows == 8
    assert profile.numeric_mean == pytest.approx(3.5)
    assert all(math.isfinite(q) for q in profile.numeric_quantiles.values())
    with pytest.raises(ConfigError, match="a pandas Series or a list of values"):
        profile_series("abc")
    assert profile_series(pd.Index([1, 2, 3, 4, 5, 6]), k=2).numeric_mean == pytest.approx(3.5)


def test_profile_schema_profiles_the_fields_the_records_hold_by_their_kind() -> None:
    """The route from an org's records to the review page's profiles (there was none)."""
    from fedcrm.schema.models import DataKind, FieldMeta, OrgSchema, SObjectSchema, SourceFormat

    def field(name: str, kind: DataKind) -> FieldMeta:
        return FieldMeta(api_name=name, label=name, kind=kind)

    schema = OrgSchema(org_id="acme", source_format=SourceFormat.PYTHON, objects=(
        SObjectSchema(api_name="Account", fields=(
            field("Revenue__c", DataKind.CURRENCY), field("Active__c", DataKind.BOOLEAN),
            field("Secret__c", DataKind.ENCRYPTED_TEXT), field("Parent__c", DataKind.REFERENCE),
            field("Tier__c", DataKind.PICKLIST), field("NoColumn__c", DataKind.TEXT))),
        SObjectSchema(api_name="Lead", fields=(field("Source__c", DataKind.PICKLIST),)),
    ))
    n = 40
    records = pd.DataFrame({
        # records are text as read_records gives them; columns in another case
        "revenue__C": [f"{1000 + 10 * i}" for i in range(n)],
        "Active__c": ["true" if i % 4 else "false" for i in range(n)],
        "Secret__c": ["s3cret"] * n,
        "Parent__c": ["001000000000001AAA"] * n,
        "Tier__c": ["Gold"] * 30 + ["Silver"] * 6 + ["Platinum"] * 4,
    }, dtype="string")
    profiled, names = profile_schema(schema, {"ACCOUNT": records}, k=5)
    assert names == ["Account.Revenue__c", "Account.Active__c", "Account.Parent__c",
                     "Account.Tier__c"]
    account = profiled.object("Account")
    revenue = account.field("Revenue__c").profile
    # the block of 5 holding rank 19.5 of 40: the 16th to 20th values
    assert revenue is not None and revenue.numeric_quantiles["0.5"] == pytest.approx(1170.0)
    active = account.field("Active__c").profile
    assert active is not None and active.true_rate == pytest.approx(0.75)
    assert account.field("Secret__c").profile is None  # encrypted: never profiled
    parent = account.field("Parent__c").profile
    assert parent is not None and parent.categories == () and parent.n_rows == n
    tier = account.field("Tier__c").profile
    assert tier is not None and [c.value for c in tier.categories] == ["Gold", "Silver"]
    assert tier.n_suppressed_categories == 1  # Platinum: 4 records, under k
    assert account.field("NoColumn__c").profile is None
    assert profiled.object("Lead").field("Source__c").profile is None  # no Lead records
    assert schema.object("Account").field("Revenue__c").profile is None  # a copy
