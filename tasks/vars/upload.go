package vars

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Remote runs a shell command on a machine (over SSH, or locally for the
// lab). cmd is a POSIX sh command line; stdin feeds it, stdout receives its
// output.
type Remote interface {
	Run(ctx context.Context, cmd string, stdin io.Reader, stdout io.Writer) error
}

// Phase says which secrets an upload installs.
type Phase int

const (
	// BeforeActivation installs the files with neededFor "partitioning",
	// "activation" or "users": the activation itself reads them (users'
	// password hashes are needed when users are created), and they are
	// owned by root, who always exists.
	BeforeActivation Phase = iota
	// AfterActivation installs the rest (neededFor "services", the default):
	// they may be owned by a user or group the activation creates. It also
	// removes files the machine no longer declares.
	AfterActivation
)

func (p Phase) String() string {
	if p == BeforeActivation {
		return "before-activation"
	}
	return "after-activation"
}

// PhaseOf returns the phase a file with neededFor n is installed in.
func PhaseOf(neededFor string) Phase {
	switch neededFor {
	case "partitioning", "activation", "users":
		return BeforeActivation
	}
	return AfterActivation
}

// SecretsRoot is where secrets land on a host: /run/secrets/vars/<generator>/<file>,
// the path clan uses, so modules written for clan find them. /run is a
// tmpfs on NixOS and nix-darwin links /run to /private/var/run, so secrets
// never reach a disk there and the same path serves both classes.
const SecretsRoot = "/run/secrets/vars"

// MachineKeyPath is where sops-nix reads a machine's age identity
// (sops.age.keyFile): a machine with clan's generated age key
// (sops/secrets/<m>-age.key, see machinekey.go) gets it there, root-owned,
// mode 0600, in the before-activation upload, since activation decrypts
// with it. Vars.MachineKeyPath overrides it (tests).
const MachineKeyPath = "/var/lib/sops-nix/key.txt"

// machineKeyItem is the machine age key's name in uploads, results and the
// host's manifest: a leading dot, which no generator name has, so it
// cannot collide with a "<generator>/<file>".
const machineKeyItem = ".sops-nix/key.txt"

// manifestName is the host's record of what it holds: one "<digest>
// <generator>/<file>" line per installed secret, mode 0600, beside the
// secrets. The digest covers owner, group, mode and content, so a file is
// sent again when any of them changes.
const manifestName = ".manifest"

// UploadResult says what an upload did.
type UploadResult struct {
	// Sent and Skipped are "<generator>/<file>" names.
	Sent, Skipped, Removed []string
}

// Upload installs machine's deployable secrets of the given phase on the
// host behind r, under root (SecretsRoot when "").
//
// Secrets are decrypted here, in memory, with the admin's identities, and
// the whole upload is one shell script streamed to one `sh` on the host:
// one r.Run, so one SSH session. A session is the dearest thing an upload
// does (sshd forks, the user's login shell starts, then our sh), and a
// fleet deploy opens two per machine (one per phase), so the host-side
// decision replaced a separate session that used to read the manifest
// first.
//
// The script carries every secret of the phase with its digest. The host's
// sh reads its manifest with shell builtins only and writes only the
// secrets whose digest is not current there (or whose file is gone): a
// current secret's file is not touched (its mtime stays), and when nothing
// changed, nothing on the host is written and no process besides the sh
// starts. The price is that current secrets cross the (encrypted) session
// too and sit in the host sh's memory for the length of the script; they
// never reach a disk, an argument list or a here-document.
//
// Writes keep their order of safety: every changed secret goes into a
// temporary file created under umask 077 (or stricter), all temporary
// files get their owner, group and mode, and only then is each renamed
// into place, so a reader sees either the old file or the new one, with
// the right permissions. The external commands are batched: one mkdir for
// missing directories, one chmod for the directories, one chown per
// distinct owner:group, one chmod per distinct mode that the umask alone
// cannot give, and one mv per file (the rename is per file, to stay
// atomic). A failure removes the temporary files and leaves the previous
// files and manifest as they were, except for renames already done (the
// manifest then still holds their old digests, so they are sent again).
//
// After activation, files the manifest lists but the machine no longer
// declares are removed (Removed).
//
// A machine with clan's generated age key (no openssh generator) also gets
// that identity before activation, at MachineKeyPath (root, 0600), as the
// item ".sops-nix/key.txt" of the same script and manifest.
func (v *Vars) Upload(ctx context.Context, r Remote, machine string, phase Phase, root string) (*UploadResult, error) {
	if root == "" {
		root = SecretsRoot
	}
	// Owners, groups and modes go to chown and chmod on the host: the
	// fleet is validated here, whoever called, not only where it was
	// loaded.
	if err := v.Fleet.Validate(); err != nil {
		return nil, err
	}
	up, err := v.uploadFor(machine, root, phase, false)
	if err != nil {
		return nil, err
	}
	defer up.clear()
	if phase == BeforeActivation && len(up.items) == 0 {
		// Nothing to install, and nothing is removed before activation.
		return &UploadResult{}, nil
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	up.tmp = hex.EncodeToString(suffix[:])
	script := up.script()
	defer clear(script)
	var out bytes.Buffer
	// The script, secrets included, travels on stdin: never on a command
	// line (visible in ps) nor in a here-document (a temporary file in some
	// shells).
	if err := r.Run(ctx, hostSh, bytes.NewReader(script), &out); err != nil {
		return nil, fmt.Errorf("machine %q: install secrets (%s) under %s: %w", machine, phase, root, err)
	}
	res, err := up.parse(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("machine %q: install secrets (%s) under %s: %v (is the host's sh a POSIX shell?)", machine, phase, root, err)
	}
	return res, nil
}

// uploadFor is machine's upload script under root for phase, its items
// decrypted: the machine's key, then its secrets of that phase (both: of
// either phase, as Pending compares them all). The caller clears it.
func (v *Vars) uploadFor(machine, root string, phase Phase, both bool) (*uploadScript, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	if _, err := p.Fleet.ByName(machine); err != nil {
		return nil, err
	}
	up := &uploadScript{root: root, phase: phase}
	err = v.addMachineKey(up, p, machine)
	if err == nil {
		err = v.addSecrets(up, p, machine, both)
	}
	if err != nil {
		up.clear()
		return nil, err
	}
	return up, nil
}

// clear zeroes every item's plaintext, once the script has been sent or
// the digests taken: a secret lives in memory no longer than it must.
func (up *uploadScript) clear() {
	for _, it := range up.items {
		clear(it.data)
	}
}

// addSecrets adds machine's deployable secrets of up's phase to up,
// decrypted, each with its manifest digest, and names the other phase's in
// up.others; with both, every deployable secret is an item whatever its
// phase (Pending compares them all).
func (v *Vars) addSecrets(up *uploadScript, p *Plan, machine string, both bool) error {
	st := v.store()
	for _, u := range p.MachineUnits(machine) {
		for _, f := range u.Files {
			if !f.Deploy || !f.Secret {
				continue
			}
			name := u.Name + "/" + f.Name
			if !both && PhaseOf(f.NeededFor) != up.phase {
				up.others = append(up.others, name)
				continue
			}
			ct, err := os.ReadFile(st.path(u, f.Name, secretName))
			if err != nil {
				return fmt.Errorf("%s secret %q: %v (run vars:generate)", u, f.Name, err)
			}
			ids, err := v.identities()
			if err != nil {
				return err
			}
			pt, err := openSecret(u, f.Name, ct, ids)
			if isBindingError(err) {
				return fmt.Errorf("%s: refusing to upload: %w", u, err)
			}
			if err != nil {
				return fmt.Errorf("%s secret %q: %v (the deploying admin must be a recipient: run vars:rekey)", u, f.Name, err)
			}
			it := uploadItem{name: name, owner: or(f.Owner, "root"), group: or(f.Group, "root"), mode: or(f.Mode, "0400"), data: pt}
			it.digest = uploadDigest(it)
			up.items = append(up.items, it)
		}
	}
	return nil
}

// addMachineKey adds machine's clan-generated age identity to an upload:
// the item itself before activation, its manifest line kept after. A
// machine whose key is its ssh host key (clanKeyed false) gets nothing:
// sops-nix derives its key from the host key.
func (v *Vars) addMachineKey(up *uploadScript, p *Plan, machine string) error {
	if !v.clanKeyed(p, machine) {
		return nil
	}
	dest := v.MachineKeyPath
	if dest == "" {
		dest = MachineKeyPath
	}
	if !strings.HasPrefix(dest, "/") {
		return fmt.Errorf("machine key path %q is not absolute", dest)
	}
	if up.phase != BeforeActivation {
		if v.hasMachineAgeKey(machine) {
			up.others = append(up.others, machineKeyItem)
			up.dest = map[string]string{machineKeyItem: dest}
		}
		return nil
	}
	key, ok, err := v.MachineAgeKey(machine)
	if err != nil {
		return fmt.Errorf("machine %q: %w (the deploying admin must be a recipient of its age key)", machine, err)
	}
	if !ok {
		return nil
	}
	it := uploadItem{name: machineKeyItem, dest: dest, owner: "root", group: "root", mode: "0600", data: key}
	it.digest = uploadDigest(it)
	up.items = append(up.items, it)
	up.dest = map[string]string{machineKeyItem: dest}
	return nil
}

// uploadItem is one secret of the phase being uploaded.
type uploadItem struct {
	name, owner, group, mode string
	// dest is the absolute path of an item that lives outside the root
	// (the machine age key); "" for "<root>/<generator>/<file>".
	dest   string
	digest string
	data   []byte
}

// hostPath is the shell word for item name's file on the host.
func (u *uploadScript) hostPath(name string) string {
	if d, ok := u.dest[name]; ok {
		return shq(d)
	}
	return "\"$r\"/" + shq(name)
}

// hostTmp is the shell word for item name's temporary file: beside its
// target, so the rename is atomic.
func (u *uploadScript) hostTmp(name string) string {
	if d, ok := u.dest[name]; ok {
		return shq(filepath.Dir(d) + "/." + filepath.Base(d) + ".tmp." + u.tmp)
	}
	g, f, _ := strings.Cut(name, "/")
	return fmt.Sprintf("\"$r\"/%s/.%s.tmp.%s", shq(g), shq(f), u.tmp)
}

// uploadDigest is the manifest's digest of a secret: owner, group, mode
// and content, so a change of any of them sends the file again. Hosts keep
// these digests across versions of the suite: do not change the format.
func uploadDigest(it uploadItem) string {
	h := sha256.New()
	fmt.Fprintf(h, "vanixiets-upload-v1\x00%s\x00%s\x00%s\x00%s\x00", it.name, it.owner, it.group, it.mode)
	h.Write(it.data)
	return hex.EncodeToString(h.Sum(nil))
}

// hostSh is the command that runs a script streamed on its stdin on the
// host: a plain `sh` (POSIX: no operand and no -c reads standard input).
// Not `sh -s`: posh, the strict POSIX shell of the lab's darwin-class
// hosts, refuses -s; and the script stays POSIX sh with macOS's utilities
// only (package hostsh; upload_posix_test.go).
const hostSh = "sh"

// resultPrefix starts every line of the host script's answer, so that
// whatever else a host prints (a chatty login shell's rc file) is ignored.
const resultPrefix = "vanixiets-upload "

// uploadScript is the host-side half of an upload.
type uploadScript struct {
	root  string
	phase Phase
	// items are the phase's secrets, in the order results are reported.
	items []uploadItem
	// others are the machine's declared secrets of the other phase: the
	// host keeps their manifest lines.
	others []string
	// tmp makes the temporary file names of this upload unique.
	tmp string
	// dest maps the names (items or others) that live outside the root
	// to their absolute paths.
	dest map[string]string
}

// script renders the POSIX sh program. Shell variables: r is the root, m
// its manifest; for the i-th declared name (sorted) h<i> is the digest the
// host's manifest holds for it when its file exists; for the i-th item w<i>
// is set when it must be written and t<i> is its temporary file; x lists
// the manifest lines nobody declares (kept before activation, removed
// after). Everything sits in one { } group, so the shell reads the whole
// script before running any of it: a session cut short runs nothing.
//
// "${1+"$@"}" instead of "$@": under set -u an empty "$@" is an error in
// bash before 4 (macOS's /bin/sh).
func (u *uploadScript) script() []byte {
	// Two passes: the first only measures, so that the buffer holding the
	// plaintext is allocated once and never leaves a stale copy behind
	// when it grows.
	w := &scriptWriter{dry: true}
	u.render(w)
	w.dry, w.buf = false, bytes.NewBuffer(make([]byte, 0, w.n))
	u.render(w)
	return w.buf.Bytes()
}

func (u *uploadScript) render(w *scriptWriter) {
	after := u.phase == AfterActivation
	all := append([]string(nil), u.others...)
	itemOf := map[string]int{}
	for i, it := range u.items {
		all = append(all, it.name)
		itemOf[it.name] = i
	}
	sort.Strings(all)
	hvar := map[string]string{}
	for i, n := range all {
		hvar[n] = fmt.Sprintf("h%d", i)
	}

	w.printf("{\nset -eu\ntrap 'exit 1' HUP INT TERM PIPE\nr=%s\nm=\"$r\"/%s\nx=\n", shq(u.root), manifestName)
	// What the host has: manifest lines whose file still exists.
	w.printf("if [ -f \"$m\" ]; then\nwhile read -r d p; do\n")
	if len(u.dest) == 0 {
		w.printf("[ -f \"$r/$p\" ] || continue\n")
	} else {
		w.printf("case $p in\n")
		for _, n := range slices.Sorted(maps.Keys(u.dest)) {
			w.printf("%s) [ -f %s ] || continue ;;\n", shq(n), u.hostPath(n))
		}
		w.printf("*) [ -f \"$r/$p\" ] || continue ;;\nesac\n")
	}
	w.printf("case $p in\n")
	for _, n := range all {
		w.printf("%s) %s=$d ;;\n", shq(n), hvar[n])
	}
	if after {
		w.printf("*) x=\"$x$p\n\" ;;\n")
	} else {
		w.printf("*) x=\"$x$d $p\n\" ;;\n")
	}
	w.printf("esac\ndone < \"$m\"\nfi\n")
	// What must be written.
	w.printf("w=\n")
	for i, it := range u.items {
		w.printf("[ \"${%s-}\" = %s ] || { w=1; w%d=1; }\n", hvar[it.name], it.digest, i)
	}
	if after {
		w.printf("if [ -n \"$w$x\" ]; then\n")
	} else {
		w.printf("if [ -n \"$w\" ]; then\n")
	}
	var tmps []string
	for i, it := range u.items {
		w.printf("t%d=%s\n", i, u.hostTmp(it.name))
		tmps = append(tmps, fmt.Sprintf("\"$t%d\"", i))
	}
	w.printf("tm=\"$r\"/.manifest.tmp.%s\n", u.tmp)
	w.printf("trap 'rm -f -- %s \"$tm\"' EXIT\n", strings.Join(tmps, " "))
	if len(u.items) > 0 {
		w.printf("if [ -n \"$w\" ]; then\n")
		// Directories: created (under the host's umask, so parents such
		// as /run/secrets stay traversable) only when one is missing;
		// their mode is set on every write.
		w.printf("set --\n")
		for _, g := range groupsOf(u.items) {
			w.printf("[ -z \"%s\" ] || set -- ${1+\"$@\"} \"$r\"/%s\n", wvars(g.idx), shq(g.key))
		}
		w.printf("for e in \"$r\" ${1+\"$@\"}; do [ -d \"$e\" ] || { mkdir -p -- \"$r\" ${1+\"$@\"}; break; }; done\n")
		w.printf("chmod 0755 -- \"$r\" ${1+\"$@\"}\n")
		// Items outside the root: their directory is created when missing
		// (under the host's umask) and otherwise left as the host has it.
		for i, it := range u.items {
			if it.dest != "" {
				d := shq(filepath.Dir(it.dest))
				w.printf("[ -z \"${w%d-}\" ] || [ -d %s ] || mkdir -p -- %s\n", i, d, d)
			}
		}
		// Contents: builtin printf into a file that did not exist (set -C),
		// readable by its creator only.
		w.printf("set -C\n")
		for i, it := range u.items {
			w.printf("if [ -n \"${w%d-}\" ]; then\numask %s\nprintf '", i, createUmask(it.mode))
			w.octal(it.data)
			w.printf("' > \"$t%d\"\nfi\n", i)
		}
		w.printf("umask 077\n")
		// Owners, then modes (chown may clear mode bits), then renames.
		for _, g := range ownersOf(u.items) {
			w.printf("set --\n")
			for _, i := range g.idx {
				w.printf("[ -z \"${w%d-}\" ] || set -- ${1+\"$@\"} \"$t%d\"\n", i, i)
			}
			w.printf("[ $# -eq 0 ] || chown %s -- \"$@\"\n", shq(g.key))
		}
		for _, g := range modesOf(u.items) {
			w.printf("set --\n")
			for _, i := range g.idx {
				w.printf("[ -z \"${w%d-}\" ] || set -- ${1+\"$@\"} \"$t%d\"\n", i, i)
			}
			w.printf("[ $# -eq 0 ] || chmod %s -- \"$@\"\n", shq(g.key))
		}
		for i, it := range u.items {
			w.printf("if [ -n \"${w%d-}\" ]; then mv -f -- \"$t%d\" %s; fi\n", i, i, u.hostPath(it.name))
		}
		w.printf("fi\n")
	}
	if after {
		// Undeclared files: one rm for all, one rmdir for their
		// directories (which stay when not empty).
		w.printf("if [ -n \"$x\" ]; then\nset -f\nIFS='\n'\nset -- $x\nunset IFS\nset +f\n")
		w.printf("for p do printf '%%s%%s %%s\\n' %s removed \"$p\"; set -- \"$@\" \"$r/$p\"; shift; done\n", shq(resultPrefix))
		w.printf("rm -f -- \"$@\"\nfor p do set -- \"$@\" \"${p%%/*}\"; shift; done\nrmdir -- \"$@\" 2>/dev/null || :\nfi\n")
	}
	// The manifest: this phase's items with their new digests, the other
	// phase's as the host had them, then (before activation) the lines
	// nobody declares.
	w.printf("umask 077\n{\n")
	for _, n := range all {
		if i, ok := itemOf[n]; ok {
			w.printf("printf '%%s %%s\\n' %s %s\n", u.items[i].digest, shq(n))
		} else {
			w.printf("[ -z \"${%s-}\" ] || printf '%%s %%s\\n' \"$%s\" %s\n", hvar[n], hvar[n], shq(n))
		}
	}
	if !after {
		w.printf("printf '%%s' \"$x\"\n")
	}
	w.printf("} > \"$tm\"\nmv -f -- \"$tm\" \"$m\"\ntrap - EXIT\nfi\n")
	// The answer: one line per item.
	for i, it := range u.items {
		w.printf("if [ -n \"${w%d-}\" ]; then s=sent; else s=skipped; fi\nprintf '%%s%%s %%s\\n' %s \"$s\" %s\n", i, shq(resultPrefix), shq(it.name))
	}
	w.printf("}\n")
}

// parse reads the script's answer into an UploadResult: Sent and Skipped
// in item order, Removed sorted. Every item must be answered exactly once.
func (u *uploadScript) parse(out []byte) (*UploadResult, error) {
	state := map[string]string{}
	res := &UploadResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), resultPrefix)
		if !ok {
			continue
		}
		verb, name, _ := strings.Cut(line, " ")
		switch verb {
		case "sent", "skipped":
			if _, dup := state[name]; dup {
				return nil, fmt.Errorf("host answered twice for %s", name)
			}
			state[name] = verb
		case "removed":
			res.Removed = append(res.Removed, name)
		default:
			return nil, fmt.Errorf("unexpected answer from the host: %q", sc.Text())
		}
	}
	for _, it := range u.items {
		switch state[it.name] {
		case "sent":
			res.Sent = append(res.Sent, it.name)
		case "skipped":
			res.Skipped = append(res.Skipped, it.name)
		default:
			return nil, fmt.Errorf("no answer from the host for %s", it.name)
		}
		delete(state, it.name)
	}
	for n := range state {
		return nil, fmt.Errorf("host answered for %s, which was not sent", n)
	}
	sort.Strings(res.Removed)
	return res, nil
}

// createUmask is the umask a secret's temporary file is created under:
// 077, or for an owner-only mode without execute bits (0400, 0600, the
// usual ones) the umask that gives that mode directly. Both are private to
// the creating root until the rename; the second spares a chmod.
func createUmask(mode string) string {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err == nil && m&^0o600 == 0 {
		return fmt.Sprintf("%04o", 0o777&^m)
	}
	return "077"
}

// group is a set of items (by index) that share a key.
type group struct {
	key string
	idx []int
}

// groupBy groups item indexes by key, keys in first-seen order; keys for
// which key returns "" are left out.
func groupBy(items []uploadItem, key func(uploadItem) string) []group {
	var out []group
	at := map[string]int{}
	for i, it := range items {
		k := key(it)
		if k == "" {
			continue
		}
		j, ok := at[k]
		if !ok {
			j = len(out)
			at[k] = j
			out = append(out, group{key: k})
		}
		out[j].idx = append(out[j].idx, i)
	}
	return out
}

// groupsOf groups the items under the root by generator (their
// directory).
func groupsOf(items []uploadItem) []group {
	return groupBy(items, func(it uploadItem) string {
		if it.dest != "" {
			return ""
		}
		g, _, _ := strings.Cut(it.name, "/")
		return g
	})
}

// ownersOf groups the items by owner:group.
func ownersOf(items []uploadItem) []group {
	return groupBy(items, func(it uploadItem) string { return it.owner + ":" + it.group })
}

// modesOf groups the items whose mode the creation umask does not give.
func modesOf(items []uploadItem) []group {
	return groupBy(items, func(it uploadItem) string {
		if createUmask(it.mode) != "077" {
			return ""
		}
		return it.mode
	})
}

// wvars is "${w<i>-}..." for the indexes: non-empty when any is written.
func wvars(idx []int) string {
	var s strings.Builder
	for _, i := range idx {
		fmt.Fprintf(&s, "${w%d-}", i)
	}
	return s.String()
}

// scriptWriter renders a script, or (dry) only counts its length.
type scriptWriter struct {
	dry bool
	n   int
	buf *bytes.Buffer
}

func (w *scriptWriter) printf(format string, a ...any) {
	if w.dry {
		n, _ := fmt.Fprintf(io.Discard, format, a...)
		w.n += n
		return
	}
	fmt.Fprintf(w.buf, format, a...)
}

// octal writes b for printf's format string: letters and digits as they
// are, every other byte as a \ooo escape (portable across sh printf
// implementations, binary-safe, and free of '%' and quote characters).
// It writes straight into the buffer: no other copy of the plaintext.
func (w *scriptWriter) octal(b []byte) {
	for _, c := range b {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			w.n++
			if !w.dry {
				w.buf.WriteByte(c)
			}
			continue
		}
		w.n += 4
		if !w.dry {
			w.buf.Write([]byte{'\\', '0' + c>>6, '0' + c>>3&7, '0' + c&7})
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
