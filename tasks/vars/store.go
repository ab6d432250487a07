package vars

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The on-disk layout, compatible with clan's vars directory:
//
//	<root>/per-machine/<machine>/<generator>/.validation-hash
//	<root>/per-machine/<machine>/<generator>/<file>/value        public file
//	<root>/per-machine/<machine>/<generator>/<file>/secret       a sops file (binary store)
//	<root>/per-machine/<machine>/<generator>/<file>/machines/<m> symlinks naming its recipients
//	<root>/per-machine/<machine>/<generator>/<file>/users/<u>    (see clan.go)
//	<root>/shared/<generator>/...                                the same, once for all machines
//
// A generator's directory is replaced as a whole: the new set is written
// into a hidden sibling (".<generator>.new-*") and swapped in with renames,
// so an interrupted run leaves the old set or the new one, never a mix.
const (
	stampName  = ".validation-hash"
	valueName  = "value"
	secretName = "secret"
	// legacyRecipientsName is the recipients record of the suite's earlier
	// format (age armor + recipients), read only by Migrate.
	legacyRecipientsName = "recipients"
)

type store struct{ root string }

func (s store) dir(u *Unit) string { return filepath.Join(s.root, filepath.FromSlash(u.ID)) }

func (s store) path(u *Unit, file, leaf string) string {
	return filepath.Join(s.dir(u), file, leaf)
}

// readStamp returns the unit's .validation-hash, or nil when absent.
func (s store) readStamp(u *Unit) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.dir(u), stampName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// stampKey is the key recorded in a stamp (its first line).
func stampKey(stamp []byte) string {
	k, _, _ := bytes.Cut(stamp, []byte("\n"))
	return string(k)
}

func newStamp(key, nonce string) []byte {
	return []byte(key + "\ngeneration " + nonce + "\n")
}

// complete reports whether every declared file of u is on disk.
func (s store) complete(u *Unit) bool {
	for _, f := range u.Files {
		leaf := valueName
		if f.Secret {
			leaf = secretName
		}
		if st, err := os.Stat(s.path(u, f.Name, leaf)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// values reads the unit's public files.
func (s store) values(u *Unit) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range u.Files {
		if f.Secret {
			continue
		}
		b, err := os.ReadFile(s.path(u, f.Name, valueName))
		if err != nil {
			return nil, fmt.Errorf("%s: public file %q: %v (run vars:generate)", u, f.Name, err)
		}
		out[f.Name] = b
	}
	return out, nil
}

// unitFiles is the content of a unit's directory: for each file, its leaves.
// A leaf with a slash ("machines/<m>", "users/<u>") is a symlink whose
// target is the content: clan's recipient links.
type unitFiles map[string]map[string][]byte

// writeUnit replaces the unit's directory with stamp and files, atomically.
func (s store) writeUnit(u *Unit, stamp []byte, files unitFiles) error {
	dir := s.dir(u)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	write := func(p string, b []byte) error {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write(filepath.Join(tmp, stampName), stamp); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	for _, fn := range slices.Sorted(maps.Keys(files)) {
		if err := os.Mkdir(filepath.Join(tmp, fn), 0o755); err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		for _, leaf := range slices.Sorted(maps.Keys(files[fn])) {
			if strings.Contains(leaf, "/") {
				lp := filepath.Join(tmp, fn, filepath.FromSlash(leaf))
				if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
					return fmt.Errorf("%s: %w", u, err)
				}
				if err := os.Symlink(string(files[fn][leaf]), lp); err != nil {
					return fmt.Errorf("%s: %w", u, err)
				}
				continue
			}
			if err := write(filepath.Join(tmp, fn, leaf), files[fn][leaf]); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
		}
	}
	if err := swapDir(tmp, dir); err != nil {
		return fmt.Errorf("%s: install %s: %w", u, dir, err)
	}
	ok = true
	return syncDir(parent)
}

func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

// renameSwapped moves the just-written new directory into place when the
// target does not exist yet, or swaps it with the old one; see swapDir.
func installFresh(tmp, dir string) (bool, error) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return true, os.Rename(tmp, dir)
	}
	return false, nil
}

// swapDirRenames is the portable swap: old aside, new in, old removed. An
// interruption between the two renames leaves ".<g>.old-*" and no <g>:
// recover puts the old set back on the next run.
func swapDirRenames(tmp, dir string) error {
	if fresh, err := installFresh(tmp, dir); fresh || err != nil {
		return err
	}
	old := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".old-"+filepath.Base(tmp)[strings.LastIndex(filepath.Base(tmp), "-")+1:])
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}

// recoverDir finishes or undoes an interrupted swap under parent: an
// ".<g>.new-*" directory is an unfinished write and is removed; an
// ".<g>.old-*" directory is the previous set, put back when <g> is missing
// and removed otherwise. It writes nothing when there is nothing to do.
func recoverDir(parent string) error {
	ents, err := os.ReadDir(parent)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") {
			continue
		}
		if i := strings.LastIndex(n, ".new-"); i > 0 {
			if err := os.RemoveAll(filepath.Join(parent, n)); err != nil {
				return err
			}
			continue
		}
		if i := strings.LastIndex(n, ".old-"); i > 0 {
			target := filepath.Join(parent, n[1:i])
			if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(filepath.Join(parent, n), target); err != nil {
					return err
				}
				continue
			}
			if err := os.RemoveAll(filepath.Join(parent, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// recoverAll runs recoverDir on every directory that holds generator
// directories.
func (s store) recoverAll() error {
	if err := recoverDir(filepath.Join(s.root, "shared")); err != nil {
		return err
	}
	pm := filepath.Join(s.root, "per-machine")
	ents, err := os.ReadDir(pm)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := recoverDir(filepath.Join(pm, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
