# Shared by the loopfile provider's scripts (sourced, not run). Every volume is a sparse file
# $EXTP_DIR/<VOL_NAME>.img, attached as a loop device. POSIX sh; every expansion quoted.
set -eu

: "${VOL_NAME:?VOL_NAME is not set}"
# The agent checks names already; a provider checks again (it may be called by other tools).
case "$VOL_NAME" in
  */* | .* | *..* | '') echo "loopfile: bad volume name" >&2; exit 1 ;;
esac
DIR="${EXTP_DIR:-/var/lib/berth-loopfile}"
case "$DIR" in
  /*) ;;
  *) echo "loopfile: dir must be an absolute path" >&2; exit 1 ;;
esac
IMG="$DIR/$VOL_NAME.img"

# The loop devices currently backed by $IMG (none: empty).
loops_of() {
  losetup -j "$IMG" -O NAME -n 2>/dev/null || true
}

check_size() {
  case "$1" in
    '' | *[!0-9]*) echo "loopfile: bad size '$1'" >&2; exit 1 ;;
  esac
}
