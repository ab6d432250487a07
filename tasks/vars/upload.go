package vars

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
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
// host behind r, under root (SecretsRoot when ""). Secrets are decrypted in
// memory with the admin's identities and streamed to a sh on the host,
// which writes each into a temporary file (umask 077), sets owner, group
// and mode, and renames it into place. A secret whose digest in the host's
// manifest is current, and whose file still exists, is not sent.
func (v *Vars) Upload(ctx context.Context, r Remote, machine string, phase Phase, root string) (*UploadResult, error) {
	if root == "" {
		root = SecretsRoot
	}
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	if _, err := p.Fleet.ByName(machine); err != nil {
		return nil, err
	}
	type item struct {
		name, owner, group, mode string
		digest                   string
		data                     []byte
	}
	var items []item
	declared := map[string]bool{}
	st := v.store()
	for _, u := range p.MachineUnits(machine) {
		for _, f := range u.Files {
			if !f.Deploy || !f.Secret {
				continue
			}
			name := u.Name + "/" + f.Name
			declared[name] = true
			if PhaseOf(f.NeededFor) != phase {
				continue
			}
			ct, err := os.ReadFile(st.path(u, f.Name, secretName))
			if err != nil {
				return nil, fmt.Errorf("%s secret %q: %v (run vars:generate)", u, f.Name, err)
			}
			ids, err := v.identities()
			if err != nil {
				return nil, err
			}
			pt, err := decrypt(ct, ids)
			if err != nil {
				return nil, fmt.Errorf("%s secret %q: %v (the deploying admin must be a recipient: run vars:rekey)", u, f.Name, err)
			}
			it := item{name: name, owner: or(f.Owner, "root"), group: or(f.Group, "root"), mode: or(f.Mode, "0400"), data: pt}
			h := sha256.New()
			fmt.Fprintf(h, "vanixiets-upload-v1\x00%s\x00%s\x00%s\x00%s\x00", it.name, it.owner, it.group, it.mode)
			h.Write(pt)
			it.digest = hex.EncodeToString(h.Sum(nil))
			items = append(items, it)
		}
	}
	defer func() {
		for _, it := range items {
			clear(it.data)
		}
	}()
	// What the host has: manifest entries whose file still exists.
	var cur bytes.Buffer
	readCmd := fmt.Sprintf(`r=%s; [ -f "$r/%s" ] || exit 0; while read -r d p; do [ -f "$r/$p" ] && printf '%%s %%s\n' "$d" "$p"; done < "$r/%s"; exit 0`, shq(root), manifestName, manifestName)
	if err := r.Run(ctx, "sh -c "+shq(readCmd), nil, &cur); err != nil {
		return nil, fmt.Errorf("machine %q: read %s/%s: %w", machine, root, manifestName, err)
	}
	have := map[string]string{}
	sc := bufio.NewScanner(&cur)
	for sc.Scan() {
		if d, n, ok := strings.Cut(sc.Text(), " "); ok {
			have[n] = d
		}
	}
	res := &UploadResult{}
	var script bytes.Buffer
	script.WriteString("set -eu\numask 077\n")
	fmt.Fprintf(&script, "r=%s\nmkdir -p \"$r\"\nchmod 0755 \"$r\"\nt=\ntrap 'if [ -n \"$t\" ]; then rm -f \"$t\"; fi' EXIT\n", shq(root))
	next := map[string]string{}
	for n, d := range have {
		next[n] = d
	}
	for _, it := range items {
		if have[it.name] == it.digest {
			res.Skipped = append(res.Skipped, it.name)
			continue
		}
		g, f, _ := strings.Cut(it.name, "/")
		fmt.Fprintf(&script, "mkdir -p \"$r\"/%s\nchmod 0755 \"$r\"/%s\nt=\"$r\"/%s/.%s.tmp.$$\n", shq(g), shq(g), shq(g), shq(f))
		fmt.Fprintf(&script, "printf '%s' > \"$t\"\n", octalEscape(it.data))
		fmt.Fprintf(&script, "chown %s \"$t\"\nchmod %s \"$t\"\nmv -f \"$t\" \"$r\"/%s/%s\nt=\n", shq(it.owner+":"+it.group), shq(it.mode), shq(g), shq(f))
		next[it.name] = it.digest
		res.Sent = append(res.Sent, it.name)
	}
	if phase == AfterActivation {
		for n := range have {
			if !declared[n] {
				g, f, _ := strings.Cut(n, "/")
				fmt.Fprintf(&script, "rm -f \"$r\"/%s/%s\nrmdir \"$r\"/%s 2>/dev/null || true\n", shq(g), shq(f), shq(g))
				delete(next, n)
				res.Removed = append(res.Removed, n)
			}
		}
	}
	if len(res.Sent) == 0 && len(res.Removed) == 0 {
		return res, nil
	}
	names := make([]string, 0, len(next))
	for n := range next {
		names = append(names, n)
	}
	sort.Strings(names)
	var man strings.Builder
	for _, n := range names {
		fmt.Fprintf(&man, "%s %s\n", next[n], n)
	}
	fmt.Fprintf(&script, "t=\"$r\"/.manifest.tmp.$$\nprintf '%%s' %s > \"$t\"\nmv -f \"$t\" \"$r\"/%s\nt=\n", shq(man.String()), manifestName)
	// The script, secrets included, travels on stdin: never on a command
	// line (visible in ps) nor in a here-document (a temporary file in some
	// shells).
	if err := r.Run(ctx, "sh -s", bytes.NewReader(script.Bytes()), io.Discard); err != nil {
		return nil, fmt.Errorf("machine %q: install secrets (%s) under %s: %w", machine, phase, root, err)
	}
	clear(script.Bytes())
	return res, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// octalEscape renders b for printf's format string: letters and digits as
// they are, every other byte as a \ooo escape (portable across sh printf
// implementations, binary-safe, and free of '%' and quote characters).
func octalEscape(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			s.WriteByte(c)
			continue
		}
		fmt.Fprintf(&s, "\\%03o", c)
	}
	return s.String()
}
