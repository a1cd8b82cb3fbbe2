#!/usr/bin/env bash
# A real multi-process Flower federation on this machine: a SuperLink with TLS and SuperNode
# authentication, one SuperNode per org on 127.0.0.1 (each holding one org's synthetic data),
# fedcrm's Flower App run on it, and every process stopped at the end.
#
#   examples/flower/run_local.sh                      # 3 orgs, 2 rounds, plaintext
#   examples/flower/run_local.sh --orgs 5 --rounds 5 --encrypted
#   examples/flower/run_local.sh --kill org2 --kill-after-round 1   # a node dies mid-run
#
# Certificates and keys are generated afresh in the work folder (a temporary one, deleted at
# exit, unless FEDCRM_FLOWER_WORKDIR names one to keep). Never commit them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
if [ -n "${FEDCRM_FLOWER_WORKDIR:-}" ]; then
  workdir="$FEDCRM_FLOWER_WORKDIR"; keep=1
else
  workdir="$(mktemp -d -t fedcrm-flower-XXXXXX)"; keep=0
fi
mkdir -p "$workdir"

cleanup() {
  # the launcher stops its processes itself; this also covers a launcher that was killed
  if [ -f "$workdir/pgids" ]; then
    while read -r group; do kill -KILL -- "-$group" 2>/dev/null || true; done < "$workdir/pgids"
  fi
  if [ "$keep" = 0 ]; then rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PATH="$(dirname "$python"):$PATH" "$python" "$here/launch.py" --workdir "$workdir" "$@"
