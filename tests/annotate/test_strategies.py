"""Each query strategy picks the fields it should on hand-built pools."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedcrm.annotate.impact import default_concept_weights
from fedcrm.annotate.pool import PoolField
from fedcrm.annotate.strategies import (
    Diverse,
    Entropy,
    Explore,
    Impact,
    Margin,
    Product,
    RandomSampling,
    make_strategy,
)
from fedcrm.errors import ConfigError
from fedcrm.matching.embeddings import Embedder
from fedcrm.ontology import Ontology


def field(name: str, *candidates: tuple[str, float], label: str | None = None,
          org: str = "acme", sobject: str = "Account") -> PoolField:
    return PoolField(org=org, object=sobject, field=f"{name}__c", label=label or name,
                     kind="text", candidates=tuple(candidates))


CERTAIN = field("Revenue", ("account.annual_revenue", 0.97), ("account.arr", 0.01))
TORN = field("Value", ("account.annual_revenue", 0.48), ("account.arr", 0.46))
NO_IDEA = field("Thing")  # no candidates: "none of these" is certain
LEANS_NONE = field("Hobby", ("account.industry", 0.3))  # none = 0.7


def test_none_probability_is_what_the_candidates_leave() -> None:
    assert LEANS_NONE.none_probability == pytest.approx(0.7)
    assert NO_IDEA.none_probability == 1.0
    assert field("Over", ("a.b", 0.8), ("a.c", 0.6)).none_probability == 0.0


def test_a_label_the_matcher_cannot_read_is_not_a_certain_none() -> None:
    # "年間売上高" scored low against every concept: none was 1.0, margin and entropy 0, so
    # the field was asked last, although the matcher's own abstention claims at most 0.5
    unreadable = field("Nenkan", ("account.annual_revenue", 0.02), label="年間売上高")
    assert unreadable.none_probability == 0.5
    readable = field("Hobby", ("account.annual_revenue", 0.02))
    assert readable.none_probability == pytest.approx(0.98)
    pool = [CERTAIN, readable, unreadable]
    assert [q.field for q in Margin().select(pool, 1)] == [unreadable]
    assert Entropy().score(pool)[2] > Entropy().score(pool)[1]


def test_margin_ranks_the_torn_field_first_and_counts_none_as_an_option() -> None:
    pool = [CERTAIN, NO_IDEA, LEANS_NONE, TORN]
    scores = Margin().score(pool)
    # 1 − (p1 − p2) over candidates and "none of these"
    assert scores == pytest.approx([1 - (0.97 - 0.02), 0.0, 1 - (0.7 - 0.3), 1 - (0.48 - 0.46)])
    picked = [q.field for q in Margin().select(pool, 2)]
    assert picked == [TORN, LEANS_NONE]


def test_entropy_is_largest_for_an_even_split() -> None:
    even = field("Even", ("a.x", 1 / 3), ("a.y", 1 / 3))  # none = 1/3
    scores = Entropy().score([CERTAIN, even, NO_IDEA])
    assert scores[1] == pytest.approx(math.log(3))
    assert scores[2] == 0.0
    assert scores[0] < 0.2
    assert Entropy().select([CERTAIN, even, NO_IDEA], 1)[0].field is even


def test_impact_is_the_expected_weight_of_the_concept() -> None:
    weights = {"account.churned": 6.0, "account.fax": 1.0}
    churn = field("Gone", ("account.churned", 1.0))
    half = field("Maybe_Gone", ("account.churned", 0.5))  # none 0.5 weighs 1
    fax = field("Fax_Line", ("account.fax", 0.9))
    scores = Impact(weights).score([churn, half, fax, NO_IDEA])
    assert scores == pytest.approx([6.0, 0.5 * 6 + 0.5 * 1, 0.9 * 1 + 0.1 * 1, 1.0])
    assert [q.field for q in Impact(weights).select([fax, half, churn], 2)] == [churn, half]
    assert Impact(weights, default=2.0).score([field("X", ("lead.other", 1.0))])[0] == 2.0
    with pytest.raises(ConfigError, match="finite"):
        Impact({"a.b": float("nan")})


def test_uncertainty_times_impact_fixes_costly_doubts_first() -> None:
    weights = {"account.churned": 6.0, "account.fax": 1.0, "account.phone": 1.0}
    doubtful_churn = field("Status", ("account.churned", 0.5), ("account.customer_since", 0.45))
    doubtful_fax = field("Line", ("account.fax", 0.5), ("account.phone", 0.45))
    sure_churn = field("Churned", ("account.churned", 0.99))
    strategy = Margin() * Impact(weights)
    assert isinstance(strategy, Product) and strategy.name == "margin*impact"
    order = [q.field for q in strategy.select([sure_churn, doubtful_fax, doubtful_churn], 3)]
    assert order == [doubtful_churn, doubtful_fax, sure_churn]
    # products flatten
    assert len((strategy * Entropy()).parts) == 3


def _twins() -> list[PoolField]:
    """Five orgs' copies of one doubtful field, then two different, slightly surer ones."""
    twins = [field("Annual_Revenue", ("account.annual_revenue", 0.5), ("account.arr", 0.49),
                   label="Annual revenue", org=f"org{i}") for i in range(5)]
    others = [
        field("Golf_Handicap", ("account.rating", 0.5), ("account.industry", 0.4),
              label="Golf handicap"),
        field("Churn_Date", ("account.churn_date", 0.55), ("account.created_date", 0.4),
              label="Cancellation date"),
    ]
    return twins + others


def test_diversity_does_not_ask_about_near_identical_fields() -> None:
    pool = _twins()
    plain = [q.field.field for q in Margin().select(pool, 3)]
    assert plain == ["Annual_Revenue__c"] * 3
    diverse = [q.field for q in Diverse(Margin(), similarity="name").select(pool, 3)]
    assert diverse[0] is pool[0]  # the most uncertain field still comes first
    assert {f.field for f in diverse[1:]} == {"Golf_Handicap__c", "Churn_Date__c"}
    # once the distinct fields are taken, the twins come back (damped, not banned)
    more = Diverse(Margin(), similarity="name").select(pool, 4)
    assert more[3].field.field == "Annual_Revenue__c"
    assert more[3].priority < more[0].priority


def test_diversity_with_sentence_embeddings(embedder: Embedder) -> None:
    pool = _twins()
    pool[1] = field("Yearly_Rev", ("account.annual_revenue", 0.5), ("account.arr", 0.49),
                    label="Yearly revenue", org="org1")  # same meaning, other words
    picked = Diverse(Margin(), embedder=embedder, floor=0.6).select(pool, 3)
    assert {q.field.field for q in picked[1:]} == {"Golf_Handicap__c", "Churn_Date__c"}


def test_random_sampling_is_reproducible_and_order_free() -> None:
    pool = [field(f"F{i}") for i in range(40)]
    first = [q.field for q in RandomSampling(seed=7).select(pool, 10)]
    assert first == [q.field for q in RandomSampling(seed=7).select(list(reversed(pool)), 10)]
    assert first != [q.field for q in RandomSampling(seed=8).select(pool, 10)]
    # the next round over what is left continues the same permutation
    rest = [f for f in pool if f not in first]
    six = [q.field for q in RandomSampling(seed=7).select(pool, 16)]
    assert [q.field for q in RandomSampling(seed=7).select(rest, 6)] == six[10:]
    # roughly uniform: every decile of the permutation is hit
    scores = RandomSampling(seed=1).score([field(f"G{i}") for i in range(500)])
    assert np.histogram(scores, bins=10, range=(0, 1))[0].min() > 25


def test_make_strategy_builds_compositions_from_names(ontology: Ontology) -> None:
    weights = default_concept_weights(ontology)
    strategy = make_strategy("margin*impact+diverse", weights=weights, similarity="name")
    assert isinstance(strategy, Diverse) and strategy.name == "margin*impact+diverse"
    assert isinstance(strategy.inner, Product)
    assert [type(p) for p in strategy.inner.parts] == [Margin, Impact]
    assert isinstance(make_strategy("uncertainty"), Margin)
    assert make_strategy("default", weights=weights, similarity="name").name == \
        "margin*impact+diverse"
    assert make_strategy("random", seed=3).name == "random(seed=3)"
    with pytest.raises(ConfigError, match="unknown part 'magin'"):
        make_strategy("magin*impact", weights=weights)
    with pytest.raises(ConfigError, match="give the concept weights"):
        make_strategy("impact")
    with pytest.raises(ConfigError, match="unknown modifier"):
        make_strategy("margin+fast")
    # an alias takes modifiers, and spaces are allowed around every operator
    explored = make_strategy("default+explore", weights=weights, similarity="name")
    assert isinstance(explored, Explore) and isinstance(explored.inner, Diverse)
    assert make_strategy(" margin * impact + explore = 0.3 ", weights=weights).name == \
        make_strategy("margin*impact+explore=0.3", weights=weights).name
    with pytest.raises(ConfigError, match="whole number"):
        Margin().select([CERTAIN], -1)


def test_explore_must_wrap_diverse_not_the_other_way_round() -> None:
    # Diverse selects with its inner strategy's scores, so an Explore inside it never ran
    with pytest.raises(ConfigError, match=r"'\+explore' must come after '\+diverse'.*"
                                          r"'margin\+diverse\+explore=0\.3'"):
        make_strategy("margin+explore=0.3+diverse", similarity="name")
    with pytest.raises(ConfigError, match="Diverse cannot wrap 'margin\\+explore'"):
        Diverse(Explore(Margin()), similarity="name")
    with pytest.raises(ConfigError, match=r"'\+diverse' is given twice"):
        make_strategy("margin+diverse+diverse", similarity="name")
    strategy = make_strategy("margin+diverse+explore=0.5", similarity="name")
    assert isinstance(strategy, Explore) and isinstance(strategy.inner, Diverse)
    assert strategy.name == "margin+diverse+explore=0.5"
    pool = _twins()
    assert len(strategy.select(pool, 4)) == 4


def test_default_weights_favour_model_inputs_of_several_tasks(ontology: Ontology) -> None:
    weights = default_concept_weights(ontology)
    assert set(weights) == {c.id for c in ontology.concepts}
    two_task_feature = next(c for c in ontology.concepts
                            if c.usage.value == "feature" and len(c.tasks) == 2)
    unused_pii = next(c for c in ontology.concepts if c.usage.value == "pii" and not c.tasks)
    assert weights[two_task_feature.id] == 6.0
    assert weights[unused_pii.id] == 1.0
    # a task that lists a concept but leaves it out of its features does not count
    assert weights["account.type"] == 2.0  # churn and win probability both leave it out
    assert weights["contact.last_activity_date"] == 4.0  # churn leaves it out, win uses it


def test_a_product_refuses_strategies_that_act_in_select() -> None:
    # a product multiplies scores; an Explore or Diverse inside it never selected anything
    with pytest.raises(ConfigError, match=r"a product cannot contain 'margin\+explore=1'"):
        _ = Margin() * Explore(Margin(), share=1.0)
    with pytest.raises(ConfigError, match=r"a product cannot contain 'margin\+diverse'"):
        Product(Entropy(), Diverse(Margin(), similarity="name"))
    with pytest.raises(ConfigError, match="a product cannot contain"):
        Product(Margin(), Product(Entropy()), Explore(Diverse(Margin(), similarity="name")))
    product = Product(Margin(), Entropy())
    product.parts = (*product.parts, Explore(Margin()))  # smuggled in after construction
    with pytest.raises(ConfigError, match=r"Diverse cannot wrap 'margin\+explore'"):
        Diverse(product, similarity="name")
    assert Explore(Diverse(Margin() * Entropy(), similarity="name")).name == \
        "margin*entropy+diverse+explore"


@pytest.mark.parametrize(("share", "n", "expected"), [
    (0.1, 5, 1), (0.1, 15, 2), (0.5, 5, 3), (0.5, 7, 4), (0.2, 10, 2), (0.01, 3, 1),
    (0.0, 10, 0), (1.0, 4, 4), (0.3, 0, 0),
    # the share as written: 0.58 × 25 is 14.499999999999998 in floats (it explored 14)
    (0.58, 25, 15), (0.15, 30, 5), (0.35, 30, 11),
])
def test_explore_rounds_half_up_and_explores_at_least_one(share: float, n: int,
                                                          expected: int) -> None:
    pool = [field(f"f{i}", ("account.nps_score", 0.9 - i / 100)) for i in range(40)]
    strategy = Explore(Margin(), share=share)
    assert strategy.random_count(n) == expected
    chosen = strategy.select(pool, n)
    exploited = {q.field.field for q in Margin().select(pool, n - expected)}
    assert len(chosen) == n
    assert len([q for q in chosen if q.field.field not in exploited]) == expected
    # every field is reported with the strategy's priority, explored ones too (not the draw)
    margins = dict(zip(pool, Margin().score(pool), strict=True))
    assert all(q.priority == pytest.approx(margins[q.field]) for q in chosen)


def test_candidate_probabilities_must_be_probabilities() -> None:
    with pytest.raises(ConfigError, match=r"acme/Account\.Odd__c: candidate probabilities must "
                                          r"be in \[0, 1\]"):
        field("Odd", ("account.industry", float("nan")))
    with pytest.raises(ConfigError, match="must be in"):
        field("Odd", ("account.industry", 1.2))


def test_diverse_never_picks_a_field_twice_even_with_undefined_priorities() -> None:
    class Undefined(Margin):
        """A strategy whose priority is NaN for some fields (a user's own scoring)."""

        def score(self, pool):  # type: ignore[no-untyped-def]
            scores = super().score(pool)
            scores[1:] = np.nan
            return scores

    pool = [TORN, CERTAIN, NO_IDEA]
    chosen = Diverse(Undefined(), similarity="name").select(pool, 3)
    assert sorted(q.field.field for q in chosen) == sorted(f.field for f in pool)
    assert chosen[0].field is TORN  # the one defined priority first


def test_name_similarity_does_not_treat_a_word_subset_as_a_copy() -> None:
    # token_set_ratio said 1.0 for "Region" vs "Region manager email" and damped the second
    # to nothing; copies that differ in a number are still alike
    region = field("Region", ("account.region", 0.5), ("account.territory", 0.45))
    manager = field("Region_Manager_Email", ("account.owner_email", 0.5),
                    ("account.region", 0.45), label="Region manager email")
    copy = field("Region_2", ("account.region", 0.5), ("account.territory", 0.45),
                 label="Region 2")
    certain = field("Sure", ("account.industry", 0.97))
    chosen = Diverse(Margin(), similarity="name").select([region, manager, copy, certain], 2)
    assert [q.field for q in chosen] == [region, manager]
