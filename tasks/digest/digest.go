// Package digest turns declared file inputs into content digests: the raw
// material of every step key and CI job key.
//
// A file's identity is its slash-separated path relative to a root, its mode
// (file type and permission bits) and the SHA-256 of its content; symlinks
// are hashed by their target text and never followed. A Manifest's Sum covers
// all three for every file, sorted by path, so a rename, a chmod or an edit
// changes it, and nothing else does.
//
// Hashing goes through a stat cache, as git's index does: a file whose path,
// size, mtime, ctime, inode and mode are unchanged since it was last hashed
// is not read again. Entries whose mtime was too close to the moment they were
// hashed ("racily clean" in git's words) are never trusted, because an edit
// in the same timestamp tick would keep every stat field equal.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// File is one hashed input.
type File struct {
	Path string      // slash-separated, relative to the manifest root
	Mode fs.FileMode // type bits and permission bits as on disk
	Size int64
	Sum  [32]byte // SHA-256 of the content (of the link target for symlinks)
}

// Hex returns the content digest in hex.
func (f File) Hex() string { return hex.EncodeToString(f.Sum[:]) }

// Manifest is the sorted list of files a set of patterns matched.
type Manifest struct {
	Root  string
	Files []File
}

// Sum is the digest of the whole manifest: path, mode and content digest of
// every file, in path order, as a hex SHA-256.
func (m Manifest) Sum() string {
	h := sha256.New()
	for _, f := range m.Files {
		fmt.Fprintf(h, "%s\x00%o\x00%x\n", f.Path, uint32(f.Mode), f.Sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Bytes is the total content size of the manifest.
func (m Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Spec says which files to hash.
type Spec struct {
	Root     string   // directory the patterns are relative to
	Patterns []string // globs, "**" for any depth; a plain path names one file
	Exclude  []string // globs removed from the match
	// Required makes a pattern that matches nothing an error naming it.
	Required bool
	// Keep, when set, limits matches to the paths it accepts (for example
	// the files git tracks or would track, so ignored build output on one
	// machine does not change a key that a fresh clone computes).
	Keep func(rel string) bool
	// Paths, when set, are the candidates instead of a walk of Root: each
	// (slash-separated, relative to Root) is still matched against
	// Patterns, Exclude and Keep, and one that does not exist or is no
	// file is skipped, as a walk would not have met it. For a set known in
	// advance (a flake's tracked files) it saves reading every directory.
	Paths []string
}

// ErrNoMatch is wrapped by the error for a required pattern matching nothing.
var ErrNoMatch = errors.New("matches no file")

// skipDir names directories never descended into: version control and
// Bazel's output symlinks.
func skipDir(name string) bool {
	return name == ".git" || strings.HasPrefix(name, "bazel-")
}

// Glob hashes the files spec matches, through h's stat cache.
func (h *Hasher) Glob(spec Spec) (Manifest, error) {
	root, err := filepath.Abs(spec.Root)
	if err != nil {
		return Manifest{}, err
	}
	pats := make([]pattern, 0, len(spec.Patterns))
	for _, p := range spec.Patterns {
		c, err := compile(p)
		if err != nil {
			return Manifest{}, err
		}
		pats = append(pats, c)
	}
	excl := make([]pattern, 0, len(spec.Exclude))
	for _, p := range spec.Exclude {
		c, err := compile(p)
		if err != nil {
			return Manifest{}, err
		}
		excl = append(excl, c)
	}
	w := &globWalk{h: h, root: root, pats: pats, excl: excl, keep: spec.Keep, hits: make([]atomic.Int64, len(pats))}
	if spec.Paths != nil {
		w.list(spec.Paths)
	} else {
		seen := map[string]bool{}
		for _, start := range walkRoots(pats) {
			if seen[start] {
				continue
			}
			seen[start] = true
			w.start(start)
		}
	}
	w.wg.Wait()
	if w.err != nil {
		return Manifest{}, w.err
	}
	if spec.Required {
		for i := range w.hits {
			if w.hits[i].Load() == 0 {
				return Manifest{}, fmt.Errorf("input glob %q under %s: %w", pats[i].raw, root, ErrNoMatch)
			}
		}
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Path < w.files[j].Path })
	return Manifest{Root: root, Files: w.files}, nil
}

// globWalk walks directories in parallel, matching and hashing files as it
// finds them: on a warm run the whole cost is one readdir per directory and
// one lstat per file, spread over every core.
type globWalk struct {
	h          *Hasher
	root       string
	pats, excl []pattern
	keep       func(string) bool
	hits       []atomic.Int64

	wg    sync.WaitGroup
	mu    sync.Mutex
	files []File
	err   error
}

var (
	walkSem = make(chan struct{}, 4*runtime.NumCPU())
	bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
)

func (w *globWalk) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *globWalk) start(rel string) {
	abs := filepath.Join(w.root, filepath.FromSlash(rel))
	st, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		w.fail(fmt.Errorf("read input %s: %w", abs, err))
		return
	}
	if st.IsDir() {
		w.dir(rel)
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.file(rel, nil)
	}()
}

// list hashes the given candidates (Spec.Paths) in parallel chunks.
func (w *globWalk) list(paths []string) {
	const chunk = 64
	for i := 0; i < len(paths); i += chunk {
		part := paths[i:min(i+chunk, len(paths))]
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			walkSem <- struct{}{}
			defer func() { <-walkSem }()
			bp := bufPool.Get().(*[]byte)
			defer bufPool.Put(bp)
			for _, rel := range part {
				abs := filepath.Join(w.root, filepath.FromSlash(rel))
				st, err := os.Lstat(abs)
				if errors.Is(err, fs.ErrNotExist) {
					continue // gone since the list was made
				}
				if err != nil {
					w.fail(fmt.Errorf("read input %s: %w", abs, err))
					return
				}
				if st.IsDir() || st.Mode()&(fs.ModeSocket|fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
					continue // a directory (a submodule), or not content
				}
				w.file(rel, *bp)
			}
		}()
	}
}

func (w *globWalk) dir(rel string) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		walkSem <- struct{}{}
		defer func() { <-walkSem }()
		abs := filepath.Join(w.root, filepath.FromSlash(rel))
		d, err := os.Open(abs)
		if err != nil {
			w.fail(fmt.Errorf("read input %s: %w", abs, err))
			return
		}
		ents, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			w.fail(fmt.Errorf("read input %s: %w", abs, err))
			return
		}
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		for _, e := range ents {
			child := e.Name()
			if rel != "" {
				child = rel + "/" + child
			}
			if e.IsDir() {
				if skipDir(e.Name()) {
					continue
				}
				for _, p := range w.pats {
					if p.mayContain(child) {
						w.dir(child)
						break
					}
				}
				continue
			}
			if e.Type()&(fs.ModeSocket|fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
				continue // not content: sockets and pipes are never inputs
			}
			w.file(child, *bp)
		}
	}()
}

// file matches one path and hashes it when it is an input.
func (w *globWalk) file(rel string, buf []byte) {
	for _, e := range w.excl {
		if e.match(rel) {
			return
		}
	}
	if w.keep != nil && !w.keep(rel) {
		return
	}
	matched := false
	for i, p := range w.pats {
		if p.match(rel) {
			w.hits[i].Add(1)
			matched = true
		}
	}
	if !matched {
		return
	}
	if buf == nil {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf = *bp
	}
	f, err := w.h.hashFile(w.root, rel, buf)
	if err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	w.files = append(w.files, f)
	w.mu.Unlock()
}

// walkRoots returns the literal directories the walk starts from, one per
// pattern, with nested duplicates removed.
func walkRoots(pats []pattern) []string {
	var out []string
	for _, p := range pats {
		out = append(out, p.prefix())
	}
	sort.Strings(out)
	var kept []string
	for _, r := range out {
		covered := false
		for _, k := range kept {
			if k == "" || r == k || strings.HasPrefix(r, k+"/") {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, r)
		}
	}
	return kept
}

// hashFile hashes one file, or takes its digest from the stat cache.
func (h *Hasher) hashFile(root, rel string, buf []byte) (File, error) {
	abs := filepath.Join(root, filepath.FromSlash(rel))
	st, err := statOf(abs)
	if err != nil {
		return File{}, fmt.Errorf("read input %s: %w", abs, err)
	}
	f := File{Path: rel, Mode: st.mode, Size: st.size}
	if sum, ok := h.lookup(abs, st); ok {
		f.Sum = sum
		return f, nil
	}
	sh := sha256.New()
	if st.mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(abs)
		if err != nil {
			return File{}, fmt.Errorf("read input %s: %w", abs, err)
		}
		io.WriteString(sh, target)
	} else {
		if err := hashContent(sh, abs, st.size, buf); err != nil {
			return File{}, fmt.Errorf("read input %s: %w", abs, err)
		}
	}
	copy(f.Sum[:], sh.Sum(nil))
	h.store(abs, st, f.Sum)
	return f, nil
}

// hashContent reads the file with raw system calls into buf, the worker's
// reusable buffer: no poller registration and no per-file allocation, which
// is most of the cost for many small files. It stops at the size lstat
// reported; a file growing meanwhile changes its ctime, so the next run
// rehashes it.
func hashContent(w io.Writer, p string, size int64, buf []byte) error {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var done int64
	for done < size || size == 0 {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		w.Write(buf[:n])
		done += int64(n)
	}
	return nil
}
