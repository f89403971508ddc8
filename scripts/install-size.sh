#!/usr/bin/env bash
# Install time and size of each lock, each into a fresh venv, the way the workflows install it
# (hash-checked lock, then the project without dependencies). Used by `make install-size`; README quotes
# one run. Run it twice: the first run may fill pip's cache from the network.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
for lock in requirements.txt requirements-dev.txt; do
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    "$python" -m venv "$dir/venv"
    pip=("$dir/venv/bin/python" -m pip install -q --disable-pip-version-check)
    start=$EPOCHREALTIME
    "${pip[@]}" --require-hashes -r "$lock"
    "${pip[@]}" --no-deps --no-build-isolation .
    end=$EPOCHREALTIME
    packages=$("$dir/venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)
    seconds=$("$python" -c "print($end - $start)")
    printf '%-21s %5.1f s %5d MB %4d packages\n' "$lock" "$seconds" "$(du -sm "$dir/venv" | cut -f1)" "$packages"
    rm -rf "$dir" build
done
