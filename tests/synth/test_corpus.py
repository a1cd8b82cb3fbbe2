"""``write_synthetic_corpus`` (``fedcrm matcher corpus``) replaces the synthetic orgs of an
annotations folder only once the new ones are generated: a bad argument or an interrupted
run leaves the folder as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

import fedcrm.synth.corpus as synth_corpus
from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import read_sources
from fedcrm.synth.corpus import write_synthetic_corpus

REAL_ORG = """\
orgs:
- org: npsp
  kind: real
  licence: BSD-3-Clause
"""


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture()
def annotations(tmp_path: Path) -> Path:
    """An annotations folder with one real org and one synthetic federation (2 orgs)."""
    root = tmp_path / "annotations"
    (root / "labels").mkdir(parents=True)
    (root / "sources.yaml").write_text(REAL_ORG, encoding="utf-8")
    (root / "labels" / "npsp.jsonl").write_text("{}\n", encoding="utf-8")
    write_synthetic_corpus(root, [(2, 7)])
    return root


def test_writes_the_synthetic_orgs_next_to_the_real_ones(annotations: Path) -> None:
    sources = read_sources(annotations)
    assert [(s.org, s.kind) for s in sources] == [
        ("npsp", "real"), ("syn7_org01_vercors", "synthetic"), ("syn7_org02_moselhof", "synthetic")]
    assert sorted(p.name for p in (annotations / "schemas").iterdir()) == [
        "syn7_org01_vercors.json", "syn7_org02_moselhof.json"]
    assert (annotations / "labels" / "npsp.jsonl").read_text(encoding="utf-8") == "{}\n"
    assert sorted(p.name for p in annotations.iterdir()) == ["labels", "schemas",
                                                            "sources.yaml"]


def test_a_rewrite_replaces_stale_synthetic_files_only(annotations: Path) -> None:
    written = write_synthetic_corpus(annotations, [(1, 8)])
    assert written == [s.org for s in read_sources(annotations) if s.kind == "synthetic"]
    assert [p.stem for p in (annotations / "schemas").iterdir()] == written
    assert sorted(p.stem for p in (annotations / "labels").iterdir()) == sorted(
        ["npsp", *written])
    assert [p.name for p in annotations.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(("federations", "message"), [
    ([(0, 5)], r"synthetic federation 0:5 \(orgs:seed\) needs 1 to 200 orgs; got 0"),
    ([(2, -1)], "needs a seed of at least 0"),
    ([(2, 9), (3, 9)], r"share seed\(s\) \[9\]"),
    (["6:101"], "a pair of whole numbers"),
])
def test_bad_federations_are_refused_before_anything_is_touched(
        annotations: Path, federations: list[tuple[int, int]], message: str) -> None:
    before = _files(annotations)
    with pytest.raises(ConfigError, match=message):
        write_synthetic_corpus(annotations, federations)
    assert _files(annotations) == before


def test_an_interrupted_generation_leaves_the_corpus_as_it_was(
        annotations: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the second federation is generated: the first one's files are already
    written (in the temporary folder), the old corpus must still be whole."""
    before = _files(annotations)
    generate = synth_corpus.generate_federation
    calls: list[int] = []

    def interrupted_on_the_second_call(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return generate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(synth_corpus, "generate_federation", interrupted_on_the_second_call)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_corpus(annotations, [(1, 8), (1, 9)])
    assert len(calls) == 2
    assert _files(annotations) == before


def test_an_org_id_that_climbs_out_of_the_folder_deletes_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "annotations"
    (root / "labels").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("precious.json", "precious.jsonl"):
        (victim / name).write_text("keep\n", encoding="utf-8")
    (root / "sources.yaml").write_text(
        "orgs:\n- org: ../../victim/precious\n  kind: synthetic\n  licence: CC0-1.0\n",
        encoding="utf-8")
    root.joinpath("sources.yaml").chmod(0o664)
    write_synthetic_corpus(root, [(1, 9)])
    assert sorted(p.name for p in victim.iterdir()) == ["precious.json", "precious.jsonl"]
    assert root.joinpath("sources.yaml").stat().st_mode & 0o777 == 0o664  # mode kept
