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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
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
	// Each line is path NUL mode-in-octal NUL hex-digest newline, built by
	// hand: fmt's reflection was a tenth of a warm flake key.
	h := sha256.New()
	var line []byte
	for _, f := range m.Files {
		line = append(line[:0], f.Path...)
		line = append(line, 0)
		line = strconv.AppendUint(line, uint64(uint32(f.Mode)), 8)
		line = append(line, 0)
		line = hex.AppendEncode(line, f.Sum[:])
		line = append(line, '\n')
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Paths are the manifest's file paths, in its order.
func (m Manifest) Paths() []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = f.Path
	}
	return out
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
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		fd = -1 // nothing to hash: every start and candidate is missing
	} else if err != nil {
		return Manifest{}, fmt.Errorf("read inputs under %s: %w", root, err)
	} else {
		defer unix.Close(fd)
	}
	w.rootfd = fd
	if spec.Paths != nil && fd < 0 {
		// no root, so no candidate exists
	} else if spec.Paths != nil {
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
	slices.SortFunc(w.files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return Manifest{Root: root, Files: w.files}, nil
}

// globWalk walks directories in parallel, matching and hashing files as it
// finds them: on a warm run the whole cost is one readdir per directory and
// one lstat per file, spread over every core.
type globWalk struct {
	h          *Hasher
	root       string
	rootfd     int // root, open: files are statted and opened relative to it
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

// at says where rel is: its absolute path (the stat cache's key and what
// errors name) and the directory descriptor and name the system calls take.
// Walked and git-listed paths are already clean, so the absolute path is a
// concatenation and the calls resolve rel from the root's descriptor;
// anything else is joined by filepath.Join and resolved from there, as
// before descriptors.
func (w *globWalk) at(rel string) (abs string, dirfd int, name string) {
	if clean(rel) {
		name = filepath.FromSlash(rel)
		return w.root + string(filepath.Separator) + name, w.rootfd, name
	}
	abs = filepath.Join(w.root, filepath.FromSlash(rel))
	return abs, unix.AT_FDCWD, abs
}

// clean reports whether rel is a relative slash path with no empty, "." or
// ".." segment, which filepath.Join would leave as it is.
func clean(rel string) bool {
	if rel == "" || rel[0] == '/' || rel[len(rel)-1] == '/' {
		return false
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		switch rel[start:i] {
		case "", ".", "..":
			return false
		}
		start = i + 1
	}
	return true
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
				if !w.match(rel) {
					continue
				}
				// One lstat per candidate: it both sorts out what is no
				// file and is the stat the cache compares.
				abs, dirfd, name := w.at(rel)
				st, err := statAt(dirfd, name, abs)
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || err == errNotContent {
					continue // gone since the list was made, a directory (a submodule), or not content
				}
				if err != nil {
					w.fail(fmt.Errorf("read input %s: %w", abs, err))
					return
				}
				w.hash(rel, abs, dirfd, name, st, *bp)
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

// match reports whether rel is an input (not excluded, kept, matched by a
// pattern), counting a hit for each pattern that matches it.
func (w *globWalk) match(rel string) bool {
	for _, e := range w.excl {
		if e.match(rel) {
			return false
		}
	}
	if w.keep != nil && !w.keep(rel) {
		return false
	}
	matched := false
	for i, p := range w.pats {
		if p.match(rel) {
			w.hits[i].Add(1)
			matched = true
		}
	}
	return matched
}

// file matches one path met by the walk and hashes it when it is an input.
func (w *globWalk) file(rel string, buf []byte) {
	if !w.match(rel) {
		return
	}
	abs, dirfd, name := w.at(rel)
	st, err := statAt(dirfd, name, abs)
	if err != nil {
		w.fail(fmt.Errorf("read input %s: %w", abs, err))
		return
	}
	if buf == nil {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf = *bp
	}
	w.hash(rel, abs, dirfd, name, st, buf)
}

// hash hashes one statted input into the manifest.
func (w *globWalk) hash(rel, abs string, dirfd int, name string, st statInfo, buf []byte) {
	f, err := w.h.hashFile(rel, abs, dirfd, name, st, buf)
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

// hashFile hashes one file, rel in the manifest, abs its absolute path and
// name under the directory open as dirfd, whose lstat is st, or takes its
// digest from the stat cache.
func (h *Hasher) hashFile(rel, abs string, dirfd int, name string, st statInfo, buf []byte) (File, error) {
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
		if err := hashContent(sh, dirfd, name, st.size, buf); err != nil {
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
func hashContent(w io.Writer, dirfd int, name string, size int64, buf []byte) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var done int64
	for done < size || size == 0 {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
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
