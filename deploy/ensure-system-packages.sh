#!/usr/bin/env bash
# Installs, with apt-get, the Debian/Ubuntu packages named as arguments that are not installed yet,
# saying which. With --python-build it also makes sure the Python used for .venv can create a
# virtualenv and compile C extensions (python3-venv, python3-dev) when it is the system Python.
set -euo pipefail

python_build=0
packages=()
for arg in "$@"; do
  case "$arg" in
    --python-build) python_build=1 ;;
    *) packages+=("$arg") ;;
  esac
done

python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip' 2>/dev/null; then
  packages+=(python3-venv)
fi
if [ "$python_build" = 1 ] && ! "$python" -c \
    'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
    2>/dev/null; then
  packages+=(python3-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${missing[*]} — install them with your package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
