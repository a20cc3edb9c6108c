#!/usr/bin/env bash
# Independent check of the conjunction screening against Vallado's SGP4 (PyPI `sgp4`):
# writes a 2,000-object realistic population and the crate's 24-hour, 5 km screening of it,
# then recomputes every close approach in Python. Exits non-zero on any mismatch.
# Usage: bash sda-ingest/core/oracle/run.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="${1:-$(mktemp -d)}"
python3 -m pip install --quiet --disable-pip-version-check -r sda-ingest/core/oracle/requirements.txt
cargo run --release --locked -p sda-ingest-core --example screening_oracle -- "$out"
python3 sda-ingest/core/oracle/check_screening.py "$out"
