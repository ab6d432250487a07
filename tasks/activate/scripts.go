package activate

// The host side of activation is POSIX sh, sent as the argument of
// "sh -c" over the SSH session, so a host needs nothing installed but sh, coreutils, flock, setsid
// and nix-env (all on NixOS; on macOS flock and setsid come with the system
// closure's sw). Every script reads its parameters as "$@".

// common is prepended to every script.
const common = `set -u
P=/nix/var/nix/profiles/system
D=/run/vanixiets/deploy
mkdir -p "$D" /var/lib/vanixiets
gen_of() { l=$(readlink "$P" 2>/dev/null) || { echo 0; return; }; l=${l##*/}; l=${l#system-}; echo "${l%-link}"; }
cur_top() { if [ -e /run/current-system ]; then readlink -f /run/current-system; fi; }
switch_to() { # toplevel action
  if [ "$class" = darwin ]; then "$1/activate"; else "$1/bin/switch-to-configuration" "$2"; fi
}
logline() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> /var/lib/vanixiets/deploy.log; }
lock() {
  exec 9>>"$D/lock"
  if ! flock -w "$1" 9; then
    echo "another deployment of this machine holds $D/lock (waited $1 s); try again when it is done" >&2
    exit 75
  fi
}
`

// activateScript starts the agent detached, then reports its progress.
// Args: token class action toplevel timeout lockwait.
const activateScript = common + `
token=$1 class=$2 action=$3 top=$4 timeout=$5 lockwait=$6
if [ ! -e "$top" ]; then echo "toplevel $top is not in the host's store (copy it first)" >&2; exit 2; fi
if [ "$action" = dry-activate ]; then
  if [ "$class" = darwin ]; then echo "would activate $top (current: $(cur_top))"; exit 0; fi
  exec "$top/bin/switch-to-configuration" dry-activate
fi
lock "$lockwait"
prevTop=$(cur_top)
prevGen=$(gen_of)
cat > "$D/$token.agent" <<'VANIXIETS_AGENT'
` + agentScript + `
VANIXIETS_AGENT
echo "starting $D/$token.agent" > "$D/$token.state"
# setsid + nohup + no inherited stdio: the agent outlives this session and
# the deployer (even a SIGKILLed one). fd 9, the lock, is inherited on
# purpose: the machine stays locked until the agent has confirmed or rolled
# back.
setsid nohup sh "$D/$token.agent" "$token" "$class" "$action" "$top" "$timeout" "$prevTop" "$prevGen" </dev/null >"$D/$token.log" 2>&1 &
apid=$!
exec 9>&-
while :; do
  s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
  case "$s" in activated*|confirmed*|failed*|rolledback*) break ;; esac
  if ! kill -0 "$apid" 2>/dev/null; then
    s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
    case "$s" in activated*|confirmed*|failed*|rolledback*) break ;; esac
    s="failed the activation agent died ($s)"; break
  fi
  sleep 0.05
done
cat "$D/$token.log"
echo "VANIXIETS-STATE $s"
echo "VANIXIETS-GEN $prevGen $(gen_of)"
echo "VANIXIETS-PREV $prevTop"
`

// agentScript is the detached watchdog: it activates, then waits for the
// deployer's confirmation and rolls back without it.
// Args: token class action toplevel timeout prevTop prevGen.
const agentScript = `set -u
token=$1 class=$2 action=$3 top=$4 timeout=$5 prevTop=$6 prevGen=$7
P=/nix/var/nix/profiles/system
D=/run/vanixiets/deploy
st() { printf '%s\n' "$*" > "$D/$token.state.new"; mv -f "$D/$token.state.new" "$D/$token.state"; }
switch_to() { if [ "$class" = darwin ]; then "$1/activate"; else "$1/bin/switch-to-configuration" "$2"; fi; }
logline() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> /var/lib/vanixiets/deploy.log; }
setprofile=0
rollback() {
  echo "rolling back: $1"
  if [ "$setprofile" = 1 ]; then
    if [ "$prevGen" != 0 ]; then nix-env -p "$P" --switch-generation "$prevGen" || echo "could not reset the profile to generation $prevGen"; fi
  fi
  if [ -n "$prevTop" ] && [ "$action" != boot ]; then
    ra=switch; [ "$action" = test ] && ra=test
    switch_to "$prevTop" "$ra" || echo "re-activating $prevTop failed too"
  elif [ -z "$prevTop" ]; then
    echo "no previous system to go back to"
  fi
  logline "rollback $top -> ${prevTop:-none}: $1"
}
case "$action" in
  switch|boot)
    if ! nix-env -p "$P" --set "$top"; then st failed setting the system profile; exit 1; fi
    setprofile=1 ;;
esac
if ! switch_to "$top" "$action"; then
  rollback "activation of $top failed"
  st rolledback activation failed
  exit 1
fi
logline "$action $top"
case "$action" in switch|test) ;; *) st confirmed; exit 0 ;; esac
if [ "$timeout" -le 0 ] || [ -z "$prevTop" ]; then st confirmed; exit 0; fi
st activated
i=0
n=$((timeout * 20))
while [ "$i" -lt "$n" ]; do
  if [ -e "$D/$token.confirm" ]; then st confirmed; logline "confirmed $top"; exit 0; fi
  if [ -e "$D/$token.abort" ]; then
    rollback "$(cat "$D/$token.abort")"
    st rolledback "$(cat "$D/$token.abort")"
    exit 1
  fi
  sleep 0.05
  i=$((i + 1))
done
if [ -e "$D/$token.confirm" ]; then st confirmed; exit 0; fi
rollback "no confirmation within ${timeout}s"
st rolledback no confirmation within ${timeout}s
exit 1`

// confirmScript confirms (or aborts) a pending activation and waits for the
// agent's verdict. Args: token verdict(confirm|abort) reason wait.
const confirmScript = `set -u
D=/run/vanixiets/deploy
token=$1 verdict=$2 reason=$3 wait=$4
s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
case "$s" in
  activated*)
    if [ "$verdict" = confirm ]; then : > "$D/$token.confirm"; else printf '%s\n' "$reason" > "$D/$token.abort"; fi ;;
esac
i=0
while [ "$i" -lt $((wait * 20)) ]; do
  s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
  case "$s" in confirmed*|rolledback*|failed*|"") break ;; esac
  sleep 0.05; i=$((i + 1))
done
echo "VANIXIETS-STATE $s"
`

// rollbackScript switches the machine back one generation.
// Args: class lockwait.
const rollbackScript = common + `
class=$1 lockwait=$2
lock "$lockwait"
from=$(gen_of); fromTop=$(cur_top)
if ! nix-env -p "$P" --rollback; then echo "no earlier generation of $P to roll back to" >&2; exit 3; fi
top=$(readlink -f "$P")
switch_to "$top" switch || { echo "activating generation $(gen_of) ($top) failed" >&2; exit 1; }
logline "rollback (requested) $fromTop -> $top"
echo "VANIXIETS-GEN $from $(gen_of)"
echo "VANIXIETS-PREV $fromTop"
echo "VANIXIETS-TOP $top"
`

// statusScript prints the current system, the profile generation and
// the toplevel it points at.
const statusScript = common + `
echo "VANIXIETS-TOP $(cur_top)"
echo "VANIXIETS-GEN $(gen_of)"
if [ -e "$P" ]; then echo "VANIXIETS-PROFILE $(readlink -f "$P")"; fi
`
