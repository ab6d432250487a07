package closure

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// narWriter writes the Nix ARchive serialisation of a file tree: the format
// whose SHA-256 is a store path's narHash. Every token is a string (length
// as u64 little-endian, bytes, zero padding to 8); directory entries come
// sorted by name; a regular file is executable when its owner may execute
// it. Counting what it writes lets Copy check the size against narSize
// before the receiver would reject a mismatch.
type narWriter struct {
	w   io.Writer
	n   int64
	buf [8]byte
}

var zeros [8]byte

func (nw *narWriter) write(p []byte) error {
	n, err := nw.w.Write(p)
	nw.n += int64(n)
	return err
}

func (nw *narWriter) u64(v uint64) error {
	binary.LittleEndian.PutUint64(nw.buf[:], v)
	return nw.write(nw.buf[:])
}

func (nw *narWriter) str(s string) error {
	if err := nw.u64(uint64(len(s))); err != nil {
		return err
	}
	if err := nw.write([]byte(s)); err != nil {
		return err
	}
	return nw.pad(int64(len(s)))
}

func (nw *narWriter) pad(n int64) error {
	if r := n % 8; r != 0 {
		return nw.write(zeros[:8-r])
	}
	return nil
}

func (nw *narWriter) strs(ss ...string) error {
	for _, s := range ss {
		if err := nw.str(s); err != nil {
			return err
		}
	}
	return nil
}

// DumpNAR writes the NAR of path to w and returns its size in bytes.
func DumpNAR(w io.Writer, path string) (int64, error) {
	nw := &narWriter{w: w}
	if err := nw.str("nix-archive-1"); err != nil {
		return nw.n, err
	}
	err := nw.node(path)
	return nw.n, err
}

func (nw *narWriter) node(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if err := nw.strs("(", "type"); err != nil {
		return err
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		if err := nw.str("regular"); err != nil {
			return err
		}
		if m&0o100 != 0 {
			if err := nw.strs("executable", ""); err != nil {
				return err
			}
		}
		if err := nw.str("contents"); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		size := fi.Size()
		if err := nw.u64(uint64(size)); err != nil {
			return err
		}
		n, err := io.CopyN(writerFunc(nw.write), f, size)
		if err != nil {
			return fmt.Errorf("%s: read %d of %d bytes: %w", p, n, size, err)
		}
		if err := nw.pad(size); err != nil {
			return err
		}
	case m&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if err := nw.strs("symlink", "target", target); err != nil {
			return err
		}
	case m.IsDir():
		if err := nw.str("directory"); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			if err := nw.strs("entry", "(", "name", name, "node"); err != nil {
				return err
			}
			if err := nw.node(filepath.Join(p, name)); err != nil {
				return err
			}
			if err := nw.str(")"); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: %s files cannot be archived", p, m.Type())
	}
	return nw.str(")")
}

type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}
