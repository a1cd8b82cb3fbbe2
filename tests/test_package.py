"""The top-level package: what ``import fedcrm`` offers."""

from __future__ import annotations

import fedcrm


def test_lazy_names_are_listed_and_resolve() -> None:
    # tab completion (dir) did not offer fedcrm.match or fedcrm.MappingProposal
    for name in ("match", "MappingProposal", "FieldMatcher", "run_demo", "generate_federation"):
        assert name in dir(fedcrm)
        assert getattr(fedcrm, name) is not None
    assert set(fedcrm.__all__) <= set(dir(fedcrm))
