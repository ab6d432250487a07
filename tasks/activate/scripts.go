package activate

// The host side of activation is POSIX sh using only what both NixOS and
// macOS have (package hostsh says what that excludes and why; its Lint and
// a posh/dash parse check every script here in the unit tests, and the
// lab's darwin-class hosts run them with posh as /bin/sh and a PATH of
// macOS's utilities only). A host needs nothing installed but its system
// and Nix. Every script runs as hostsh.Command makes it, reading its
// parameters as "$@".

// vars are every script's fixed paths.
const vars = `set -u
P=/nix/var/nix/profiles/system
D=/run/vanixiets/deploy
`

// funcs are the shell functions the scripts share (the session's and the
// detached agent's alike, so each is written once).
//
// gen_of: the system profile's generation (0: none).
// top_of: the store path a link resolves to ("" when it resolves to
// nothing); cd -P and pwd -P are POSIX, readlink -f is not.
// switch_to TOPLEVEL ACTION: activate a system the way the machine's own
// tool does. NixOS: switch-to-configuration ACTION. nix-darwin (as
// darwin-rebuild does it): activate-user first when the system has one
// that is not nix-darwin's deprecated stub (the "# nix-darwin: deprecated"
// line), run as $SUDO_USER when a sudo started us (a local deploy) and
// otherwise as the session's user (root over SSH, as an older
// darwin-rebuild run as root did), then activate, as root.
// lock WAIT OWNER: the machine's lock, a symbolic link $D/lock whose
// target is OWNER ("<pid>:<what>"). ln -s is atomic and fails when the
// name exists, so one process holds it; its holder removes it (unlock). A
// holder that died without (SIGKILL) leaves a link naming a pid that is
// gone: a waiter breaks it, under a second lock ($D/lock.break, a
// directory: mkdir is atomic too) so that two waiters cannot both break
// it and one remove the other's fresh lock. A regular file at $D/lock is
// the flock file of an older version and is removed. Returns 1 after WAIT
// seconds.
const funcs = `gen_of() { l=$(readlink "$P" 2>/dev/null) || { echo 0; return; }; l=${l##*/}; l=${l#system-}; echo "${l%-link}"; }
top_of() { (cd -P "$1" 2>/dev/null && pwd -P) || :; }
cur_top() { top_of /run/current-system; }
activate_user() {
  [ -x "$1/activate-user" ] || return 0
  if grep -q '^# nix-darwin: deprecated$' "$1/activate-user"; then return 0; fi
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    sudo -u "$SUDO_USER" -H "$1/activate-user"
  else
    "$1/activate-user"
  fi
}
switch_to() {
  if [ "$class" = darwin ]; then
    activate_user "$1" && "$1/activate"
  else
    "$1/bin/switch-to-configuration" "$2"
  fi
}
logline() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> /var/lib/vanixiets/deploy.log; }
lock() {
  lock_n=$(($1 * 20)); lock_i=0
  while :; do
    if ln -s "$2" "$D/lock" 2>/dev/null; then return 0; fi
    lock_h=$(readlink "$D/lock" 2>/dev/null) || lock_h=
    if [ -n "$lock_h" ] && ! kill -0 "${lock_h%%:*}" 2>/dev/null; then
      if mkdir "$D/lock.break" 2>/dev/null; then
        if [ "$(readlink "$D/lock" 2>/dev/null)" = "$lock_h" ]; then rm -f "$D/lock"; fi
        rmdir "$D/lock.break"
        if ln -s "$2" "$D/lock" 2>/dev/null; then return 0; fi
      fi
    elif [ -z "$lock_h" ] && [ -f "$D/lock" ] && [ ! -L "$D/lock" ]; then
      rm -f "$D/lock"
      if ln -s "$2" "$D/lock" 2>/dev/null; then return 0; fi
    fi
    if [ "$lock_i" -ge "$lock_n" ]; then return 1; fi
    sleep 0.05; lock_i=$((lock_i + 1))
  done
}
unlock() { if [ "$(readlink "$D/lock" 2>/dev/null)" = "$1" ]; then rm -f "$D/lock"; fi; }
busy() { echo "another deployment of this machine holds $D/lock ($(readlink "$D/lock" 2>/dev/null || echo gone); waited $1 s); try again when it is done (if none runs, remove $D/lock and $D/lock.break)"; }
`

// common starts the scripts that run in the deployer's session.
const common = vars + funcs + `mkdir -p "$D" /var/lib/vanixiets
`

// activateScript starts the agent detached, then reports its progress.
// Args: token class action toplevel timeout lockwait.
//
// Detached without setsid (util-linux; a Mac has none): nohup makes the
// agent ignore SIGHUP, its stdio is closed (a file and /dev/null), so sshd
// has nothing of it to wait for when the session ends, and it is a
// background child the session never waits for. It outlives the session
// and the deployer, even a SIGKILLed one (the lab's SIGKILL tests prove
// it, on posh as on dash).
const activateScript = common + `token=$1 class=$2 action=$3 top=$4 timeout=$5 lockwait=$6
if [ ! -e "$top" ]; then echo "toplevel $top is not in the host's store (copy it first)" >&2; exit 2; fi
if [ "$action" = dry-activate ]; then
  if [ "$class" = darwin ]; then echo "would activate $top (current: $(cur_top))"; exit 0; fi
  exec "$top/bin/switch-to-configuration" dry-activate
fi
cat > "$D/$token.agent" <<'VANIXIETS_AGENT'
` + agentScript + `
VANIXIETS_AGENT
echo "starting $D/$token.agent" > "$D/$token.state"
nohup sh "$D/$token.agent" "$token" "$class" "$action" "$top" "$timeout" "$lockwait" </dev/null >"$D/$token.log" 2>&1 &
apid=$!
while :; do
  s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
  case "$s" in activated*|confirmed*|failed*|rolledback*|busy*) break ;; esac
  if ! kill -0 "$apid" 2>/dev/null; then
    s=; { read -r s < "$D/$token.state"; } 2>/dev/null || true
    case "$s" in activated*|confirmed*|failed*|rolledback*|busy*) break ;; esac
    s="failed the activation agent died ($s)"; break
  fi
  sleep 0.05
done
case "$s" in busy*) echo "${s#busy }" >&2; exit 75 ;; esac
cat "$D/$token.log"
prevGen=0 prevTop=; { read -r prevGen prevTop < "$D/$token.prev"; } 2>/dev/null || true
echo "VANIXIETS-STATE $s"
echo "VANIXIETS-GEN $prevGen $(gen_of)"
echo "VANIXIETS-PREV $prevTop"
`

// agentScript is the detached watchdog: it takes the machine's lock (held
// until it has confirmed or rolled back, so a second deployment waits for
// the verdict of the first), activates, then waits for the deployer's
// confirmation and rolls back without it.
// Args: token class action toplevel timeout lockwait.
const agentScript = vars + funcs + `token=$1 class=$2 action=$3 top=$4 timeout=$5 lockwait=$6
st() { printf '%s\n' "$*" > "$D/$token.state.new"; mv -f "$D/$token.state.new" "$D/$token.state"; }
trap '' HUP
if ! lock "$lockwait" "$$:$token"; then st busy "$(busy "$lockwait")"; exit 75; fi
trap 'unlock "$$:$token"' EXIT
trap 'exit 1' TERM
prevTop=$(cur_top)
prevGen=$(gen_of)
printf '%s %s\n' "$prevGen" "$prevTop" > "$D/$token.prev"
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
  if [ -e "$D/$token.confirm" ]; then logline "confirmed $top"; st confirmed; exit 0; fi
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
const confirmScript = vars + `token=$1 verdict=$2 reason=$3 wait=$4
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

// rollbackScript switches the machine back one generation, as
// nixos-rebuild --rollback and darwin-rebuild --rollback do: nix-env
// --rollback on the system profile, then the profile's system activated.
// nix-darwin names its system in the profile's systemConfig file (read
// first, as darwin-rebuild does); otherwise the profile link's target.
// Args: class lockwait.
const rollbackScript = common + `class=$1 lockwait=$2
if ! lock "$lockwait" "$$:rollback"; then busy "$lockwait" >&2; exit 75; fi
trap 'unlock "$$:rollback"' EXIT
trap 'exit 1' HUP INT TERM
from=$(gen_of); fromTop=$(cur_top)
if ! nix-env -p "$P" --rollback; then echo "no earlier generation of $P to roll back to" >&2; exit 3; fi
top=
if [ "$class" = darwin ] && [ -f "$P/systemConfig" ]; then top=$(cat "$P/systemConfig"); fi
[ -n "$top" ] || top=$(top_of "$P")
switch_to "$top" switch || { echo "activating generation $(gen_of) ($top) failed" >&2; exit 1; }
logline "rollback (requested) $fromTop -> $top"
echo "VANIXIETS-GEN $from $(gen_of)"
echo "VANIXIETS-PREV $fromTop"
echo "VANIXIETS-TOP $top"
`

// statusScript prints the current system, the profile generation and
// the toplevel it points at.
const statusScript = vars + funcs + `echo "VANIXIETS-TOP $(cur_top)"
echo "VANIXIETS-GEN $(gen_of)"
if [ -e "$P" ]; then echo "VANIXIETS-PROFILE $(top_of "$P")"; fi
`

// tarMarker ends observedScript's marker lines; what follows it is a tar
// archive (see linkTime).
const tarMarker = "VANIXIETS-TAR\n"

// observedScript is statusScript and then, after tarMarker, a tar archive
// of the /run/current-system link itself: tar records a link's own mtime,
// when the last activation set it, and does not follow it (GNU tar and a
// Mac's bsdtar alike; archive/tar reads either's header). stat cannot say
// it on both: GNU stat -c %Y and BSD stat -f %m share no option (package
// hostsh). COPYFILE_DISABLE keeps a Mac's tar from adding AppleDouble
// "._" entries. A host without the link (or tar) writes no archive: no
// time, not an error.
const observedScript = statusScript + `printf '%s\n' VANIXIETS-TAR
COPYFILE_DISABLE=1; export COPYFILE_DISABLE
cd /run 2>/dev/null && tar -cf - current-system 2>/dev/null || :
`
