package vars

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PendingResult says how a host's secrets compare with what a deployment
// would upload now (fleet:status).
type PendingResult struct {
	// Pending are the secrets an upload would send ("<generator>/<file>",
	// ".sops-nix/key.txt"): new, changed (content, owner, group or mode),
	// or gone from the host. Sorted.
	Pending []string
	// Current counts the secrets the host holds as the vars have them.
	Current int
	// Stale are files the host's manifest lists that the machine no longer
	// declares: the after-activation upload removes them. Sorted.
	Stale []string
}

// Declared is how many deployable secrets the machine has.
func (r *PendingResult) Declared() int { return len(r.Pending) + r.Current }

// heldPrefix starts each line of the read script's answer.
const heldPrefix = resultPrefix + "held "

// Pending compares machine's deployable secrets, both phases, with the
// host's manifest, over one session of r, changing nothing on the host.
//
// The comparison is the upload's own: the manifest holds, per secret, the
// digest of its name, owner, group, mode and plaintext (uploadDigest), so
// a secret is current exactly when an upload would skip it. That digest
// is of the plaintext, so each secret is decrypted here, in memory, as an
// upload does, and cleared once digested; it never leaves this process.
// (Digests of the encrypted files would be cheaper, but the host never
// sees those files, and a re-encryption to new recipients (vars:rekey)
// changes them while the host needs nothing.) The host runs a read-only
// sh script of builtins (read, test, printf) that prints the manifest's
// lines whose file still exists, as the upload's own script reads them.
func (v *Vars) Pending(ctx context.Context, r Remote, machine, root string) (*PendingResult, error) {
	if root == "" {
		root = SecretsRoot
	}
	up, err := v.uploadFor(machine, root, BeforeActivation, true)
	if err != nil {
		return nil, err
	}
	up.clear() // the digest is all that is compared
	var out bytes.Buffer
	if err := r.Run(ctx, hostSh, bytes.NewReader(up.readScript()), &out); err != nil {
		return nil, fmt.Errorf("machine %q: read the secrets manifest under %s: %w", machine, root, err)
	}
	held, err := parseHeld(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("machine %q: read the secrets manifest under %s: %v (is the host's sh a POSIX shell?)", machine, root, err)
	}
	return compareHeld(up.items, held), nil
}

// compareHeld compares the items an upload would install with what the
// host holds (name -> digest).
func compareHeld(items []uploadItem, held map[string]string) *PendingResult {
	res := &PendingResult{}
	declared := map[string]bool{}
	for _, it := range items {
		declared[it.name] = true
		if held[it.name] == it.digest {
			res.Current++
			continue
		}
		res.Pending = append(res.Pending, it.name)
	}
	for _, n := range slices.Sorted(maps.Keys(held)) {
		if !declared[n] {
			res.Stale = append(res.Stale, n)
		}
	}
	slices.Sort(res.Pending)
	return res
}

// readScript renders the read-only half of an upload script: the
// manifest's lines whose file exists (the same test the upload makes), one
// "vanixiets-upload held <digest> <name>" line each. Builtins only; it
// writes nothing.
func (u *uploadScript) readScript() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "{\nset -eu\nr=%s\nm=\"$r\"/%s\n", shq(u.root), manifestName)
	b.WriteString("if [ -f \"$m\" ]; then\nwhile read -r d p; do\n")
	if len(u.dest) > 0 {
		b.WriteString("case $p in\n")
		for _, n := range slices.Sorted(maps.Keys(u.dest)) {
			fmt.Fprintf(&b, "%s) [ -f %s ] || continue ;;\n", shq(n), u.hostPath(n))
		}
		b.WriteString("*) [ -f \"$r/$p\" ] || continue ;;\nesac\n")
	} else {
		b.WriteString("[ -f \"$r/$p\" ] || continue\n")
	}
	fmt.Fprintf(&b, "printf '%%s%%s %%s\\n' %s \"$d\" \"$p\"\ndone < \"$m\"\nfi\n}\n", shq(heldPrefix))
	return []byte(b.String())
}

// parseHeld reads the read script's answer: name -> digest. Lines without
// the prefix (a chatty login shell) are ignored. It reads as the upload's
// script does: a name listed twice keeps its last digest, and a digest
// that is no digest matches nothing (the secret is pending, as an upload
// would send it again).
func parseHeld(out []byte) (map[string]string, error) {
	held := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), heldPrefix)
		if !ok {
			continue
		}
		d, name, ok := strings.Cut(line, " ")
		if !ok || d == "" || name == "" {
			return nil, fmt.Errorf("unexpected manifest line from the host: %q", sc.Text())
		}
		held[name] = d
	}
	return held, sc.Err()
}
