package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// labRecord is lab.json: what the lab made on the machine outside its hosts.
// Each field is written before the thing is made, so a crash in between
// leaves a record of something that may not exist, never the reverse.
type labRecord struct {
	Name  string       `json:"name"`
	Range netip.Prefix `json:"range"`
	// Blackhole: the lab added "blackhole <Range>" to the main table.
	Blackhole bool `json:"blackhole"`
}

// hostRecord is hosts/<name>/host.json: one host's names, addresses and sshd
// identity (pid and kernel start time, so a recycled pid is never killed).
type hostRecord struct {
	Name      string     `json:"name"`
	Target    string     `json:"target"`
	Index     int        `json:"index"`
	Netns     string     `json:"netns"`
	Veth      string     `json:"veth"` // machine side; the host side is eth0 in Netns
	Gateway   netip.Addr `json:"gateway"`
	Addr      netip.Addr `json:"addr"`
	PID       int        `json:"pid,omitempty"`
	StartTime uint64     `json:"startTime,omitempty"`
	// Nix is the Nix version the host runs ("" in older records: 2.8).
	Nix string `json:"nix,omitempty"`
	// Image is "bare" for a host a fake cloud created (CreateBareHost: no
	// Nix until installed), "" for a lab host (Nix from the start).
	Image string `json:"image,omitempty"`
	// Boot is what a bare-image host runs (BootImage, BootInstaller,
	// BootInstalled; bare.go), written before the host is restarted into it.
	Boot string `json:"boot,omitempty"`
	// Class is "darwin" for a darwin-class host (darwin.go), "" otherwise.
	Class string `json:"class,omitempty"`
}

func (l *Lab) labFile() string            { return filepath.Join(l.cfg.Dir, "lab.json") }
func (l *Lab) hostsDir() string           { return filepath.Join(l.cfg.Dir, "hosts") }
func (l *Lab) hostDir(name string) string { return filepath.Join(l.hostsDir(), name) }
func (l *Lab) hostFile(name string) string {
	return filepath.Join(l.hostDir(name), "host.json")
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(path, append(b, '\n'), 0o644)
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s is corrupt (%v); remove it by hand and any lab namespaces listed by \"ip netns list\"", path, err)
	}
	return true, nil
}

func (l *Lab) loadLab() (labRecord, error) {
	var r labRecord
	ok, err := readJSON(l.labFile(), &r)
	if err != nil {
		return r, err
	}
	if !ok {
		r = labRecord{Name: l.cfg.Name, Range: l.cfg.Range}
	}
	return r, nil
}

// loadHosts reads every host record, sorted by name.
func (l *Lab) loadHosts() ([]hostRecord, error) {
	ents, err := os.ReadDir(l.hostsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []hostRecord
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		var r hostRecord
		ok, err := readJSON(l.hostFile(e.Name()), &r)
		if err != nil {
			return nil, err
		}
		if !ok {
			// A directory without a record: a crash before the record was
			// written, so nothing was made for it yet.
			r = hostRecord{Name: e.Name(), Index: -1}
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	return rs, nil
}

// names derives the namespace and link names of host name. Link names are at
// most 15 bytes, so they carry a hash of the lab directory and the host name,
// which keeps two labs (or two hosts) from ever choosing the same link.
func (l *Lab) names(name string) (netns, veth string) {
	sum := sha256.Sum256([]byte(l.cfg.Dir + "\x00" + name))
	return "vx-" + l.cfg.Name + "-" + name, "vx" + hex.EncodeToString(sum[:4]) + "m"
}

// subnet returns the machine-side and host-side addresses of the index'th /30.
func (l *Lab) subnet(index int) (gw, addr netip.Addr, ok bool) {
	size := 1 << (32 - l.cfg.Range.Bits())
	if index < 0 || (index+1)*4 > size {
		return gw, addr, false
	}
	b := l.cfg.Range.Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	base += uint32(index * 4)
	mk := func(v uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return mk(base + 1), mk(base + 2), true
}

// lock takes an exclusive flock on <Dir>/lock for the life of the returned
// function's caller, so two processes never change one lab at once.
func (l *Lab) lock() (func(), error) {
	if err := os.MkdirAll(l.cfg.Dir, 0o755); err != nil {
		return nil, l.errf("create %s: %v", l.cfg.Dir, err)
	}
	f, err := os.OpenFile(filepath.Join(l.cfg.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, l.errf("lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, l.errf("lock %s: %v", f.Name(), err)
	}
	return func() { f.Close() }, nil
}
