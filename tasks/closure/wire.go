package closure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The wire format Nix's store protocols share: 64-bit little-endian
// integers, and strings as a length, the bytes, and zero padding to a
// multiple of 8.
const maxWireStringLen = 1 << 20

type wireConn struct {
	w *bufio.Writer
	r *bufio.Reader
}

func putU64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

func (c *wireConn) u64(v uint64) error {
	var b [8]byte
	putU64(b[:], v)
	_, err := c.w.Write(b[:])
	return err
}

func (c *wireConn) str(s string) error {
	if err := c.u64(uint64(len(s))); err != nil {
		return err
	}
	if _, err := c.w.WriteString(s); err != nil {
		return err
	}
	if r := len(s) % 8; r != 0 {
		_, err := c.w.Write(zeros[:8-r])
		return err
	}
	return nil
}

func (c *wireConn) strs(ss []string) error {
	if err := c.u64(uint64(len(ss))); err != nil {
		return err
	}
	for _, s := range ss {
		if err := c.str(s); err != nil {
			return err
		}
	}
	return nil
}

func (c *wireConn) readU64() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (c *wireConn) readStr() (string, error) {
	n, err := c.readU64()
	if err != nil {
		return "", err
	}
	if n > maxWireStringLen {
		return "", fmt.Errorf("nix protocol: string of %d bytes", n)
	}
	padded := (n + 7) &^ 7
	b := make([]byte, padded)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func (c *wireConn) readStrs() ([]string, error) {
	n, err := c.readU64()
	if err != nil {
		return nil, err
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("nix protocol: list of %d strings", n)
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		s, err := c.readStr()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

var errShortNAR = errors.New("NAR size differs from narSize")
