#!/usr/bin/env bash
# The project's one test command (README "Run all tests"). It installs what the tests need on a
# fresh Debian machine, then checks formatting and lints, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: real Go coverage, the real JaCoCo agent and analyzer, a JDK,
# real jars for differential tests, kotlinc and Kotlin runtime jars (Kotlin filters), a real
# terminal (tmux; `script` of bsdutils), git, PyYAML (the deploy manifests test), PostgreSQL (the shared session store: the
# tests start throwaway clusters of their own), openssl (the certificates of the TLS cluster), GNU
# time (covtop's own peak memory in the memory tests, tests/common/measure.rs).
packages=(golang-go libjacoco-java openjdk-17-jdk-headless tmux bsdutils git time
          libguava-java libcommons-lang3-java libcommons-io-java libcommons-collections4-java
          libguice-java maven ecj lcov libxml2-utils unzip chromium python3-yaml python3-pip
          kotlin libkotlinx-coroutines-java postgresql openssl)
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's system Python refuses plain installs (PEP 668); a user-level Python (pyenv) does not
# and does not see Debian's python3-* packages either.
pip_install() {
  python3 -m pip install --quiet "$@" || python3 -m pip install --quiet --break-system-packages "$@"
}
# diff-cover (PyPI) reads our Cobertura/LCOV/JaCoCo XML in the export tests.
command -v diff-cover >/dev/null 2>&1 || pip_install diff-cover
# PyYAML parses the Kubernetes manifests in tests/watch_deploy.rs.
python3 -c "import yaml" 2>/dev/null || pip_install pyyaml

# Cobertura's DTD (coverage-04.dtd): no Debian package ships it; coverage.py's source
# distribution on PyPI does (lab/coverage-04.dtd). xmllint validates our Cobertura against it.
dtd=/usr/local/share/cobertura/coverage-04.dtd
if [ ! -s "$dtd" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: coverage==7.17.3 -d "$tmp"
  $sudo_cmd mkdir -p "$(dirname "$dtd")"
  tar -xzf "$tmp/coverage-7.17.3.tar.gz" -O coverage-7.17.3/lab/coverage-04.dtd | $sudo_cmd tee "$dtd" >/dev/null
  rm -rf "$tmp"
  test -s "$dtd"
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
