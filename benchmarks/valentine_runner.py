"""Run Valentine's schema-only matchers on column-name tables (run inside a Python >= 3.12
environment that has ``valentine`` installed; ``benchmarks/matcher.py`` drives it).

Reads JSON from stdin: ``{"algorithm": "Coma"|"SimilarityFlooding",
"tasks": [{"id": ..., "source": [column names], "target": [column names]}]}`` and writes
``{"results": {id: [[source column, target column, score], ...]}}`` to stdout.
"""

from __future__ import annotations

import json
import sys
import warnings


def main() -> None:
    import pandas as pd
    from valentine import valentine_match
    from valentine.algorithms import Coma, SimilarityFlooding

    warnings.filterwarnings("ignore")
    request = json.load(sys.stdin)
    algorithm = {"Coma": Coma, "SimilarityFlooding": SimilarityFlooding}[request["algorithm"]]
    results = {}
    for task in request["tasks"]:
        if not task["source"] or not task["target"]:
            results[task["id"]] = []
            continue
        source = pd.DataFrame(columns=task["source"])
        target = pd.DataFrame(columns=task["target"])
        matches = valentine_match([source, target], algorithm(), df_names=["s", "t"])
        results[task["id"]] = [
            [pair.source_column, pair.target_column, float(score)]
            for pair, score in matches.items()
        ]
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
