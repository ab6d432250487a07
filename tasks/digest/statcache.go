package digest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// statInfo is what must be unchanged for a cached digest to be trusted.
type statInfo struct {
	size  int64
	mtime int64 // ns
	ctime int64 // ns
	ino   uint64
	dev   uint64
	mode  fs.FileMode
}

// errNotContent is statAt's answer for a directory, socket, pipe or device:
// never an input.
var errNotContent = errors.New("not a regular file or symlink")

// statAt lstats rel under the directory open as dirfd with one raw system
// call (fstatat, AT_SYMLINK_NOFOLLOW): on a warm run this is the only
// per-file work, so it avoids os.Lstat's allocations, and resolving the path
// from the root's descriptor skips walking the root's own components again
// for every file. abs names the file in errors.
func statAt(dirfd int, rel, abs string) (statInfo, error) {
	var s unix.Stat_t
	for {
		err := unix.Fstatat(dirfd, rel, &s, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return statInfo{}, &fs.PathError{Op: "lstat", Path: abs, Err: err}
		}
		break
	}
	var mode fs.FileMode
	switch s.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		mode = fs.ModeSymlink
	default:
		return statInfo{}, errNotContent
	}
	mode |= fs.FileMode(s.Mode & 0o777)
	return statInfo{size: s.Size, mtime: s.Mtim.Nano(), ctime: s.Ctim.Nano(), ino: uint64(s.Ino), dev: uint64(s.Dev), mode: mode}, nil
}

type entry struct {
	st   statInfo
	sum  [32]byte
	used atomic.Bool // looked up by this process; kept when pruning
}

// racyWindow is how recent an mtime may be, relative to the moment the file
// was hashed, before the entry is not worth keeping: file timestamps advance
// in kernel ticks, so a write in the same tick as the hash would not change
// any stat field.
const racyWindow = 50 * time.Millisecond

// maxEntries bounds the cache file; past it, entries not used by this
// process are dropped on save.
const maxEntries = 500_000

// Hasher hashes files through a persistent stat cache. It is safe for
// concurrent use. The zero value is not usable; use NewHasher.
type Hasher struct {
	file  string
	mu    sync.RWMutex
	m     map[string]*entry
	dirty bool
}

// NewHasher loads the stat cache kept in file (missing or corrupt: start
// empty). An empty file name keeps the cache in memory only.
func NewHasher(file string) *Hasher {
	h := &Hasher{file: file, m: map[string]*entry{}}
	if file != "" {
		if b, err := os.ReadFile(file); err == nil {
			h.m = decode(b)
		}
	}
	return h
}

var (
	defaultOnce sync.Once
	defaultH    *Hasher
)

// Default is the process-wide hasher backed by Home()/statcache.
func Default() *Hasher {
	defaultOnce.Do(func() { defaultH = NewHasher(filepath.Join(paths.Home(), "statcache", "v1")) })
	return defaultH
}

// Glob hashes spec with the default hasher and saves its stat cache.
func Glob(spec Spec) (Manifest, error) {
	m, err := Default().Glob(spec)
	if err == nil {
		err = Default().Save()
	}
	return m, err
}

func (h *Hasher) lookup(abs string, st statInfo) ([32]byte, bool) {
	h.mu.RLock()
	e, ok := h.m[abs]
	h.mu.RUnlock()
	if !ok {
		return [32]byte{}, false
	}
	e.used.Store(true)
	if e.st != st {
		return [32]byte{}, false
	}
	return e.sum, true
}

func (h *Hasher) store(abs string, st statInfo, sum [32]byte) {
	if time.Since(time.Unix(0, st.mtime)) < racyWindow || time.Since(time.Unix(0, st.ctime)) < racyWindow {
		return
	}
	h.mu.Lock()
	e := &entry{st: st, sum: sum}
	e.used.Store(true)
	h.m[abs] = e
	h.dirty = true
	h.mu.Unlock()
}

// Save writes the stat cache back atomically when it changed.
func (h *Hasher) Save() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty || h.file == "" {
		return nil
	}
	if len(h.m) > maxEntries {
		for k, e := range h.m {
			if !e.used.Load() {
				delete(h.m, k)
			}
		}
	}
	if err := fsutil.WriteFile(h.file, encode(h.m), 0o600); err != nil {
		return err
	}
	h.dirty = false
	return nil
}

const magic = "vxstat1\n"

func encode(m map[string]*entry) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	var tmp [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(tmp[:], v)
		b.Write(tmp[:])
	}
	for k, e := range m {
		put(uint64(len(k)))
		b.WriteString(k)
		put(uint64(e.st.size))
		put(uint64(e.st.mtime))
		put(uint64(e.st.ctime))
		put(e.st.ino)
		put(e.st.dev)
		put(uint64(e.st.mode))
		b.Write(e.sum[:])
	}
	return b.Bytes()
}

func decode(b []byte) map[string]*entry {
	m := make(map[string]*entry, len(b)/120)
	if !bytes.HasPrefix(b, []byte(magic)) {
		return m
	}
	b = b[len(magic):]
	// One string holds every path and one slice every entry (a record is
	// at least 88 bytes), so loading costs two allocations, not two per
	// file: a fresh process loads the cache before every warm key.
	all := string(b)
	slab := make([]entry, 0, len(b)/88)
	get := func() (uint64, bool) {
		if len(b) < 8 {
			return 0, false
		}
		v := binary.LittleEndian.Uint64(b)
		b = b[8:]
		return v, true
	}
	for len(b) > 0 {
		n, ok := get()
		if !ok || uint64(len(b)) < n {
			return map[string]*entry{}
		}
		at := len(all) - len(b)
		k := all[at : at+int(n)]
		b = b[n:]
		var v [6]uint64
		for i := range v {
			if v[i], ok = get(); !ok {
				return map[string]*entry{}
			}
		}
		if len(b) < 32 {
			return map[string]*entry{}
		}
		slab = append(slab, entry{})
		e := &slab[len(slab)-1]
		e.st = statInfo{size: int64(v[0]), mtime: int64(v[1]), ctime: int64(v[2]), ino: v[3], dev: v[4], mode: fs.FileMode(v[5])}
		copy(e.sum[:], b[:32])
		b = b[32:]
		m[k] = e
	}
	return m
}
