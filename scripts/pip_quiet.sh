# Sourced by the set-up scripts. `pip_quiet PYTHON ARGS...` runs `PYTHON -m pip ARGS...` and keeps
# its exit status and all of its output except pip's "WARNING: Location '...' is ignored" lines:
# notes that a local wheel folder or index this machine's pip configuration names is absent
# (e.g. find-links=/opt/wheels), not about this project; they read as failures in a set-up log.
pip_quiet() {
  local py=$1
  shift
  "$py" -m pip "$@" --disable-pip-version-check 2> >(grep -v "^WARNING: Location .* is ignored" >&2)
}
