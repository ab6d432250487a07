package remote

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsDB returns the host key check of a set of known_hosts files,
// parsed once per process while the files are unchanged (same size,
// modification time and inode). A fleet deployment dials every machine,
// twice when a confirmation is pending, and a lab's (or a team's)
// known_hosts lists every host: parsed on each dial, as it was, it cost
// the fleet's size per machine, and its square for the fleet. The check it
// returns only reads the parsed database, so dials share it.
func knownHostsDB(files []string) (ssh.HostKeyCallback, error) {
	stamp, err := filesStamp(files)
	if err != nil {
		return nil, err
	}
	key := strings.Join(files, "\x00")
	knownHostsCache.mu.Lock()
	e, ok := knownHostsCache.m[key]
	knownHostsCache.mu.Unlock()
	if ok && e.stamp == stamp {
		return e.cb, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, err
	}
	knownHostsCache.mu.Lock()
	if knownHostsCache.m == nil {
		knownHostsCache.m = map[string]knownHostsEntry{}
	}
	knownHostsCache.m[key] = knownHostsEntry{stamp: stamp, cb: cb}
	knownHostsCache.mu.Unlock()
	return cb, nil
}

var knownHostsCache struct {
	mu sync.Mutex
	m  map[string]knownHostsEntry // files, NUL-joined -> their parse
}

type knownHostsEntry struct {
	stamp string
	cb    ssh.HostKeyCallback
}

// filesStamp says which version of each file is there: size, modification
// time and inode (an atomic rewrite is a new inode, even within one
// timestamp tick).
func filesStamp(files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = uint64(sys.Ino)
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\x00%d\x00", f, st.Size(), st.ModTime().UnixNano(), ino)
	}
	return b.String(), nil
}
