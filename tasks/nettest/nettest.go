// Package nettest holds network peers for tests: one that never answers,
// for what the suite does when a host hangs, and a real OpenSSH sshd, for
// what it does against the host it will meet. It imports nothing of the
// suite, so any package's tests may use it, tasks/remote's own included
// (tasks/remote/sshdtest builds its logins on SSHD).
//
// Imported by tests only.
package nettest

import (
	"net"
	"testing"
)

// Silent listens on a loopback port that accepts connections and never
// writes a byte: an sshd that hangs before its banner. The connections and
// the listener are closed by the test's cleanup. It returns the address.
func Silent(tb testing.TB) *net.TCPAddr {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().(*net.TCPAddr)
}
