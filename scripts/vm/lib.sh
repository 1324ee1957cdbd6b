# Helpers shared by /init and /xvs/scripts/* in the xvs test VM (sourced, busybox sh).
#
#   result <name> <ok|fail> [key=value ...]  ->  "XVS-RESULT <name> <ok|fail> key=value ..."
#   state <state> [key=value ...]            ->  "XVS-STATE <state> key=value ..."
# Values must not contain spaces. One printf per line so that lines reach the console whole.

result() {
  _n="$1"; _s="$2"; shift 2
  printf 'XVS-RESULT %s %s%s\n' "$_n" "$_s" "$(_kv "$@")"
}

state() {
  _n="$1"; shift
  printf 'XVS-STATE %s%s\n' "$_n" "$(_kv "$@")"
}

_kv() {
  for _a in "$@"; do printf ' %s' "$(echo "$_a" | tr ' ' '_')"; done
}

# milliseconds since boot (from /proc/uptime, 10 ms resolution)
uptime_ms() {
  read -r _u _rest </proc/uptime
  expr "${_u%.*}${_u#*.}0" + 0
}

# md5 and byte count of a file: "md5=<hex> bytes=<n>"
file_digest() {
  printf 'md5=%s bytes=%s' "$(md5sum "$1" | cut -d' ' -f1)" "$(wc -c <"$1" | tr -d ' ')"
}
