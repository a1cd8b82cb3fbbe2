"""Cross-org alignment: greedy grouping, object correspondence, the clustered threshold."""

from __future__ import annotations

import math

import numpy as np

from fedcrm.matching.calibration import threshold_for_precision
from fedcrm.matching.model import (
    SCRATCH_FEDERATION_SIZE,
    _corresponding_objects,
    _greedy_groups,
    _PairData,
    clustered_join_threshold,
    clustered_scratch_threshold,
)


def _group_of(groups: list[set[int]], i: int) -> set[int]:
    return next(g for g in groups if i in g)


def test_one_field_per_org_and_preset_blocks_never_merge() -> None:
    orgs = ["a", "a", "b", "c", "c"]
    preset = [None, None, None, "custom:x", "custom:y"]
    scores = {(0, 2): (0.9, 0.9), (1, 2): (0.8, 0.8), (2, 3): (0.7, 0.7), (0, 4): (0.95, 0.95),
              (2, 4): (0.6, 0.6)}
    groups = _greedy_groups(orgs, preset, scores, 0.5)
    # 0 joins y first (0.95); 2 joins that group (0.9); 1 cannot (org a is there); 3 has
    # another preset block
    assert _group_of(groups, 0) == {0, 2, 4}
    assert _group_of(groups, 1) == {1} and _group_of(groups, 3) == {3}
    # below the threshold nothing merges
    assert all(len(g) == 1 for g in _greedy_groups(orgs, [None] * 5, scores, 0.99))


def test_equal_probabilities_are_ordered_by_the_raw_score() -> None:
    """Isotonic calibration maps ranges of raw scores to one probability; the raw score
    then decides which field takes the one slot of its org."""
    orgs = ["new", "new", "old"]
    for better in (0, 1):
        raw = [0.7, 0.7]
        raw[better] = 0.8
        scores = {(0, 2): (0.95, raw[0]), (1, 2): (0.95, raw[1])}
        groups = _greedy_groups(orgs, [None, None, "custom:x"], scores, 0.5)
        assert _group_of(groups, 2) == {better, 2}


def test_object_correspondence_keeps_an_objects_fields_together() -> None:
    """The pmm/EDA case: Program__c.StartDate__c and ProgramEngagement__c.StartDate__c both
    score alike against Program_Enrollment__c.Start_Date__c; the engagement object shares
    more likely fields with the enrollment object, so it is the one that corresponds."""
    orgs = ["pmm", "pmm", "pmm", "pmm", "eda", "eda", "eda"]
    objects = [("Program__c", True), ("ProgramEngagement__c", True),
               ("ProgramEngagement__c", True), ("ProgramEngagement__c", True),
               ("Program_Enrollment__c", True), ("Program_Enrollment__c", True),
               ("Program_Enrollment__c", True)]
    # 0 Program.StartDate, 1 Engagement.StartDate, 2 Engagement.Contact, 3 Engagement.Stage;
    # 4 Enrollment.Start_Date, 5 Enrollment.Contact, 6 Enrollment.Status
    scores = {(0, 4): (0.95, 0.9), (1, 4): (0.95, 0.8), (2, 5): (0.9, 0.9), (3, 6): (0.7, 0.7)}
    partner = _corresponding_objects(orgs, objects, scores)
    assert partner[("pmm", "ProgramEngagement__c", "eda")] == "Program_Enrollment__c"
    assert partner[("eda", "Program_Enrollment__c", "pmm")] == "ProgramEngagement__c"
    assert ("pmm", "Program__c", "eda") not in partner
    preset = [None] * 4 + ["custom:start", "custom:contact", "custom:status"]
    without = _greedy_groups(orgs, preset, scores, 0.5)
    assert _group_of(without, 4) == {0, 4}  # the raw score alone picks Program__c
    grouped = _greedy_groups(orgs, preset, scores, 0.5, objects=objects)
    assert _group_of(grouped, 4) == {1, 4}
    assert _group_of(grouped, 5) == {2, 5} and _group_of(grouped, 6) == {3, 6}
    # standard objects are not constrained: Contact fields still pair across objects
    standard = [("Contact", False)] * 4 + [("Account", False)] * 3
    assert _group_of(_greedy_groups(orgs, preset, scores, 0.5, objects=standard), 4) == {0, 4}


def _pair_data(side_org: list[int], blocks: list[str | None], pairs: list[tuple[int, int]],
               kinds: list[str]) -> _PairData:
    return _PairData(
        features=None,  # type: ignore[arg-type]  # not used by the threshold
        labels=np.array([blocks[a] is not None and blocks[a] == blocks[b] for a, b in pairs],
                        dtype=np.int8),
        groups=np.array([side_org[a] for a, _ in pairs]),
        query=np.array([a for a, _ in pairs]), target=np.array([b for _, b in pairs]),
        side_org=np.array(side_org), side_block=blocks,
        side_object=[("Account", False)] * len(side_org), org_kind=kinds,
    )


def test_clustered_threshold_counts_what_the_clustering_proposes() -> None:
    """Per org pair: a right pair at 0.9, a wrong one at 0.6 (a second field of the same org
    against the same partner) and a right one at 0.5. Per pair, accepting 0.6 halves the
    precision; after clustering the 0.6 pair never forms (its org already has a field in
    the block), so the threshold can go down to 0.5."""
    side_org: list[int] = []
    blocks: list[str | None] = []
    pairs: list[tuple[int, int]] = []
    scores: list[float] = []
    for k in range(30):
        t, s, r, p, q = range(len(side_org), len(side_org) + 5)
        side_org += [2 * k] * 3 + [2 * k + 1] * 2
        blocks += [f"custom:b{k}", None, f"custom:c{k}", f"custom:b{k}", f"custom:c{k}"]
        pairs += [(t, p), (s, p), (r, q)]
        scores += [0.9, 0.6, 0.5]
    data = _pair_data(side_org, blocks, pairs, ["real"] * 60)
    probabilities = np.array(scores)
    assert threshold_for_precision(probabilities, data.labels.astype(bool), 0.95) == 0.9
    assert clustered_join_threshold(data, probabilities, probabilities, 0.95) == 0.5


def test_clustered_threshold_weighs_real_and_synthetic_orgs_equally() -> None:
    """300 right synthetic pairs must not hide that a third of the real orgs' pairs at 0.5
    are wrong."""
    side_org: list[int] = []
    blocks: list[str | None] = []
    pairs: list[tuple[int, int]] = []
    scores: list[float] = []
    kinds: list[str] = []
    for k in range(5):  # real org pairs: right at 0.9; a wrong one at 0.5
        u, x, v, w = range(len(side_org), len(side_org) + 4)
        side_org += [2 * k, 2 * k, 2 * k + 1, 2 * k + 1]
        blocks += [f"custom:r{k}", f"custom:s{k}", f"custom:r{k}", None]
        pairs += [(u, v), (x, w)]
        scores += [0.9, 0.5]
        kinds += ["real", "real"]
    for k in range(5, 155):  # synthetic org pairs: one right pair each, at 0.9 or 0.5
        u, v = len(side_org), len(side_org) + 1
        side_org += [2 * k, 2 * k + 1]
        blocks += [f"custom:y{k}", f"custom:y{k}"]
        pairs.append((u, v))
        scores.append(0.9 if k < 55 else 0.5)
        kinds += ["synthetic", "synthetic"]
    data = _pair_data(side_org, blocks, pairs, kinds)
    probabilities = np.array(scores)
    # events: real 10 right at 0.9 and 5 wrong at 0.5; synthetic 100 right at 0.9 and 200
    # at 0.5. Unweighted, 310 of 315 are right (0.98) at 0.5; weighted, the real orgs'
    # precision there is 10/15 and the mean of the two kinds 0.83.
    assert clustered_join_threshold(data, probabilities, probabilities, 0.95) == 0.9
    all_real = _pair_data(side_org, blocks, pairs, ["real"] * len(kinds))
    assert clustered_join_threshold(all_real, probabilities, probabilities, 0.95) == 0.5


def test_weighted_threshold_for_precision() -> None:
    scores = np.array([0.9] * 20 + [0.5] * 20)
    correct = np.array([True] * 20 + [True] * 18 + [False] * 2)
    assert threshold_for_precision(scores, correct, 0.94) == 0.5  # 38 / 40 = 0.95
    weights = np.array([1.0] * 20 + [5.0] * 20)  # the 0.5 decisions count five times
    # weighted precision at 0.5: 110 / 120 = 0.92
    assert threshold_for_precision(scores, correct, 0.94, weights=weights) == 0.9


def test_one_wrong_top_decision_does_not_veto_every_threshold() -> None:
    scores = np.linspace(1.0, 0.01, 100)
    correct = np.ones(100, dtype=bool)
    correct[0] = False  # the single most confident decision is wrong
    threshold = threshold_for_precision(scores, correct, 0.95)
    assert threshold == scores[-1]  # 99 / 100 right: accept everything
    # a precision dip once enough decisions are accepted still vetoes lower thresholds
    correct[30:40] = False  # 29 / 40 right at the 40th decision
    assert threshold_for_precision(scores, correct, 0.95) > scores[30]


def test_new_blocks_need_the_pair_threshold_joins_the_join_threshold() -> None:
    """Joining an approved block and making a new block between unapproved fields have
    their own thresholds."""
    orgs = ["new", "new", "old", "other"]
    preset = [None, None, "custom:x", None]
    scores = {(0, 2): (0.6, 0.6), (1, 3): (0.6, 0.6)}
    groups = _greedy_groups(orgs, preset, scores, 0.9, join_threshold=0.5)
    assert _group_of(groups, 0) == {0, 2}  # joins the approved block at 0.6 >= 0.5
    assert _group_of(groups, 1) == {1}  # a new block needs 0.9
    groups = _greedy_groups(orgs, preset, scores, 0.5, join_threshold=0.9)
    assert _group_of(groups, 0) == {0} and _group_of(groups, 1) == {1, 3}


def test_scratch_threshold_counts_the_pairs_a_block_gets_by_transitivity() -> None:
    """Three orgs, thirty times over: a-b right at 0.9, b-c wrong at 0.7 and d-e right at
    0.7. Each pair alone is right 2 times in 3 at 0.7, so a per-pair threshold for 0.6
    precision accepts 0.7; but joining c to the block of a and b makes two wrong pairs
    (b-c and a-c), so what is proposed at 0.7 is right 2 times in 4, and the new-block
    threshold stays at 0.9."""
    side_org: list[int] = []
    blocks: list[str | None] = []
    pairs: list[tuple[int, int]] = []
    scores: list[float] = []
    for k in range(30):
        a, b, c, d, e = range(len(side_org), len(side_org) + 5)
        side_org += [0, 1, 2, 0, 2]
        blocks += [f"custom:x{k}", f"custom:x{k}", None, f"custom:y{k}", f"custom:y{k}"]
        pairs += [(a, b), (b, c), (d, e)]
        scores += [0.9, 0.7, 0.7]
    data = _pair_data(side_org, blocks, pairs, ["real"] * 3)
    probabilities = np.array(scores)
    assert threshold_for_precision(probabilities, data.labels.astype(bool), 0.6) == 0.7
    assert clustered_scratch_threshold(data, probabilities, probabilities, 0.6) == (
        0.9, {"real": 1.0})
    # fields annotated with a concept are the concept model's: they join no new block
    concept = [b.replace("custom:", "account.") if b and b.startswith("custom:y") else b
               for b in blocks]
    data = _pair_data(side_org, concept, pairs, ["real"] * 3)
    assert clustered_scratch_threshold(data, probabilities, probabilities, 0.6)[0] == 0.9
    assert clustered_scratch_threshold(data, probabilities, probabilities, 0.5)[0] == 0.9
    # generated orgs choose the threshold; the real orgs' precision at it is reported
    mixed = _pair_data(side_org + [s + 3 for s in side_org], blocks + blocks,
                       pairs + [(a + 150, b + 150) for a, b in pairs],
                       ["real"] * 3 + ["synthetic"] * 3)
    right_synthetic = np.r_[probabilities, np.where(data.labels == 1, 0.7, 0.2)]
    threshold, precision = clustered_scratch_threshold(mixed, right_synthetic,
                                                       right_synthetic, 0.95)
    assert threshold == 0.7  # the synthetic orgs' proposals are all right from 0.7 down
    assert precision == {"real": 0.5, "synthetic": 1.0}  # real: 0.9 right, 0.7 twice wrong


def test_scratch_threshold_simulates_federations_of_at_most_eight_orgs() -> None:
    """Org pairs dealt into different simulated federations propose nothing; a simulation
    that proposes fewer than ``min_pairs`` pairs gives no threshold."""
    n_orgs = SCRATCH_FEDERATION_SIZE + 1  # two federations: orgs 0, 2, 4, ... and 1, 3, ...
    side_org: list[int] = []
    blocks: list[str | None] = []
    pairs: list[tuple[int, int]] = []
    for k in range(30):
        for one, two in ((0, 2), (0, 1)):  # same federation, then different ones
            u, v = len(side_org), len(side_org) + 1
            side_org += [one, two]
            blocks += [f"custom:{one}{two}_{k}", None if two == 1 else f"custom:{one}{two}_{k}"]
            pairs.append((u, v))
    side_org += list(range(n_orgs))  # every org has a field
    blocks += [None] * n_orgs
    # the wrong pairs (0, 1) score highest: counted, they would decide the threshold
    scores = np.array([0.7 if side_org[v] == 2 else 0.9 for _, v in pairs])
    data = _pair_data(side_org, blocks, pairs, ["synthetic"] * n_orgs)
    assert clustered_scratch_threshold(data, scores, scores, 0.95) == (0.7, {"synthetic": 1.0})
    assert clustered_scratch_threshold(data, scores, scores, 0.95, min_pairs=31) == (None, {})


def _two_org_pairs(n: int, first_org: int, right: bool) -> tuple[list[int], list[str | None],
                                                                 list[tuple[int, int]]]:
    """``n`` pairs of fields of orgs ``first_org`` and ``first_org + 1``, right or wrong."""
    side_org: list[int] = []
    blocks: list[str | None] = []
    pairs: list[tuple[int, int]] = []
    for k in range(n):
        side_org += [first_org, first_org + 1]
        blocks += [f"custom:{first_org}_{k}", f"custom:{first_org}_{k}" if right else None]
        pairs.append((2 * k, 2 * k + 1))
    return side_org, blocks, pairs


def test_scratch_threshold_chooser_and_the_target_out_of_reach() -> None:
    """Generated orgs choose only when they propose enough pairs; when no
    threshold reaches the target, no new block is proposed (inf), not the per-pair one."""
    real_org, real_blocks, real_pairs = _two_org_pairs(30, 0, right=True)
    syn_org, syn_blocks, syn_pairs = _two_org_pairs(30, 2, right=False)
    offset = len(real_org)
    data = _pair_data(real_org + syn_org, real_blocks + syn_blocks,
                      real_pairs + [(a + offset, b + offset) for a, b in syn_pairs],
                      ["real", "real", "synthetic", "synthetic"])
    scores = np.r_[np.full(30, 0.8), np.full(30, 0.9)]
    # two generated orgs, 30 proposals, all wrong: they choose, and nothing reaches 0.95
    threshold, precision = clustered_scratch_threshold(data, scores, scores, 0.95)
    assert threshold == math.inf and precision == {"real": None, "synthetic": None}
    # too few generated proposals to choose on: every org chooses (the wrong ones score
    # highest, so the first 20 proposals hold at most 10 right: still out of reach)
    assert clustered_scratch_threshold(data, scores, scores, 0.95, min_pairs=31)[0] == math.inf
    assert clustered_scratch_threshold(data, scores, scores, 0.5, min_pairs=31) == (
        0.8, {"real": 1.0, "synthetic": 0.0})
    # exactly min_pairs proposals are enough to choose on
    right = _pair_data(real_org, real_blocks, real_pairs, ["real", "real"])
    assert clustered_scratch_threshold(right, scores[:30], scores[:30], 0.95,
                                       min_pairs=30) == (0.8, {"real": 1.0})
    assert clustered_scratch_threshold(right, scores[:30], scores[:30], 0.95,
                                       min_pairs=31) == (None, {})
