package closure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The legacy "serve" protocol of `nix-store --serve --write`, which Nix's
// own ssh:// store speaks: 64-bit little-endian integers and padded
// strings. Only the two commands a copy needs are implemented.
const (
	serveMagic1       = 0x390c9deb
	serveMagic2       = 0x5452eecb
	serveVersion      = 0x205 // 2.5: the first with cmdAddToStoreNar
	cmdQueryValid     = 1
	cmdAddToStoreNar  = 9
	maxServeStringLen = 1 << 20
)

type serveConn struct {
	w *bufio.Writer
	r *bufio.Reader
}

func (c *serveConn) u64(v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	_, err := c.w.Write(b[:])
	return err
}

func (c *serveConn) str(s string) error {
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

func (c *serveConn) strs(ss []string) error {
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

func (c *serveConn) readU64() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (c *serveConn) readStr() (string, error) {
	n, err := c.readU64()
	if err != nil {
		return "", err
	}
	if n > maxServeStringLen {
		return "", fmt.Errorf("serve protocol: string of %d bytes", n)
	}
	padded := (n + 7) &^ 7
	b := make([]byte, padded)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func (c *serveConn) readStrs() ([]string, error) {
	n, err := c.readU64()
	if err != nil {
		return nil, err
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("serve protocol: list of %d strings", n)
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

// handshake greets the server and returns its protocol version.
func (c *serveConn) handshake() (uint64, error) {
	if err := c.u64(serveMagic1); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	magic, err := c.readU64()
	if err != nil {
		return 0, err
	}
	if magic != serveMagic2 {
		return 0, fmt.Errorf("serve protocol: bad magic %#x (is the remote shell printing something at login?)", magic)
	}
	ver, err := c.readU64()
	if err != nil {
		return 0, err
	}
	if ver>>8 != 2 || ver&0xff < 5 {
		return 0, fmt.Errorf("serve protocol: remote nix-store speaks version %#x; need 2.5 or later (Nix >= 2.4)", ver)
	}
	if err := c.u64(serveVersion); err != nil {
		return 0, err
	}
	return ver, c.w.Flush()
}

// queryValid asks which of paths are valid on the remote: one round trip.
func (c *serveConn) queryValid(paths []string) ([]string, error) {
	for _, v := range []uint64{cmdQueryValid, 0, 0} { // lock, substitute: no
		if err := c.u64(v); err != nil {
			return nil, err
		}
	}
	if err := c.strs(paths); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.readStrs()
}

var errShortNAR = errors.New("NAR size differs from narSize")
