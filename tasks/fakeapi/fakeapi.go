// Package fakeapi is what the fake clouds (tasks/fakehcloud, tasks/fakegcp)
// share beneath their APIs: serving on a loopback port, a state file that
// carries the fake's world from one process to the next, JSON answers,
// and injected faults. Each fake keeps its own API (paths, shapes and
// error bodies): only the plumbing is here, decided once.
//
// It is a test place, like the fakes: production code never imports it.
package fakeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
)

// Server is a fake's handler served on a loopback port until Close.
type Server struct {
	// URL is the address clients are given: http://<host:port><base>.
	URL   string
	srv   *http.Server
	drain func()
}

// Serve serves h on addr ("": a free loopback port) until Close. name is
// the fake's, for errors; base is the API's path under the address (the
// URL ends with it); drain, when set, runs after the server stops, to
// wait for work the handler started in the background.
func Serve(name, addr, base string, h http.Handler, drain func()) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen on %s: %w", name, addr, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String() + base, drain: drain,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops serving (requests in flight get 5 s), then drains. What the
// fake holds (its servers or instances and their machines) is kept.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if s.drain != nil {
		s.drain()
	}
	return err
}

// LoadState reads the fake's JSON state file into v. It reports false,
// leaving v alone, when there is no file yet (a fake starting empty); an
// unreadable or broken file is an error naming it and the fix.
func LoadState(name, file string, v any) (bool, error) {
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s state %s: %w", name, file, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s state %s is not valid JSON (%v): remove it to start empty", name, file, err)
	}
	return true, nil
}

// SaveState writes v to the state file, whole or not at all (a killed
// fake leaves the previous state), readable by its owner only. It holds
// no secret, but it is nobody else's business either.
func SaveState(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := fsutil.WriteFile(file, b, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// WriteJSON answers with status and v as indented JSON of the content
// type given (each API names its own).
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// RandomHex is n random bytes in hex: request ids, fingerprints.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CheckLoopback refuses a listen address that is not a loopback one: a
// fake serves this machine only (nothing leaves it).
func CheckLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-listen %s: must be a loopback address (nothing leaves this machine)", listen)
	}
	return nil
}

// UntilSignal serves s until SIGINT or SIGTERM, then closes it: a fake's
// command runs in a terminal or under a test until told to stop.
func UntilSignal(s *Server) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return s.Close()
}
