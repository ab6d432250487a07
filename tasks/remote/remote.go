// Package remote is the suite's SSH transport, on golang.org/x/crypto/ssh.
//
// One Client is one TCP connection to one machine; a deployment opens it once
// and runs every command (closure query, NAR stream, activation) as a session
// multiplexed on it, so the handshake and authentication are paid once.
//
// Host keys are checked strictly against a known_hosts file: a host whose
// key is not listed, or is listed with a different key, is refused, and the
// error shows the fingerprints (SHA256:...) of what was offered and what was
// expected, as OpenSSH does. There is no "accept new keys" mode on purpose: a
// deployer that silently trusts a new key would push root-owned closures to
// whoever answers on the address.
//
// Client keys come from a key file (the lab's client key, or -i style
// configuration) or from the agent at $SSH_AUTH_SOCK. Connections time out
// (Config.ConnectTimeout covers TCP connect and the SSH handshake), and a
// keepalive request every Config.KeepAlive notices a dead peer: after
// Config.KeepAliveMax unanswered ones the connection is closed and running
// commands fail instead of hanging forever.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/vanixiets/vanixiets/tasks/hostexec"
	"github.com/vanixiets/vanixiets/tasks/tail"
)

// Config says how to reach one machine.
type Config struct {
	// Addr is the host name or address to connect to.
	Addr string
	// Port is the SSH port (0 means 22).
	Port int
	// User is the remote user (default "root").
	User string
	// Host is the name the machine was asked for (a deploy target's host,
	// before ssh_config's HostName), for messages; empty: HostKeyAlias,
	// else Addr.
	Host string
	// HostKeyAlias is the name looked up in KnownHosts instead of Addr
	// (OpenSSH's HostKeyAlias); empty means Addr.
	HostKeyAlias string
	// KnownHosts are known_hosts files; at least one is required.
	KnownHosts []string
	// KeyFiles are key files, tried after the agent's keys. A missing one
	// is skipped; a file holding a public key only (IdentityFile
	// ~/.ssh/id.pub, as 1Password suggests) names an agent key.
	KeyFiles []string
	// AgentSocket is the ssh-agent to ask for keys (IdentityAgent);
	// empty: $SSH_AUTH_SOCK, unless NoAgent.
	AgentSocket string
	// NoAgent asks no agent.
	NoAgent bool
	// IdentitiesOnly uses, of the agent's keys, only those KeyFiles name
	// (by the file's public half, or <file>.pub), as OpenSSH does.
	IdentitiesOnly bool
	// Jump are the ProxyJump hosts, in order: the first is dialled
	// directly, each next one through the one before, and the machine
	// through the last. Each hop's host key is checked against its own
	// KnownHosts as strictly as the machine's.
	Jump []Config
	// ConnectTimeout bounds TCP connect plus handshake (default 10 s),
	// for each hop on its own (a hop without one takes the machine's).
	ConnectTimeout time.Duration
	// KeepAlive is the interval between keepalive requests (default 5 s);
	// KeepAliveMax unanswered requests close the connection (default 3).
	KeepAlive    time.Duration
	KeepAliveMax int
}

// Name is how messages refer to the target: user@host (addr:port), and
// the jump hosts it is reached through.
func (c Config) Name() string {
	s := c.hopName()
	for i, j := range c.Jump {
		if i == 0 {
			s += " via "
		} else {
			s += ", "
		}
		s += j.user() + "@" + j.shown()
	}
	return s
}

func (c Config) shown() string {
	switch {
	case c.Host != "":
		return c.Host
	case c.HostKeyAlias != "":
		return c.HostKeyAlias
	}
	return c.Addr
}

// hopName names this one hop: user@host (addr:port).
func (c Config) hopName() string {
	shown := c.shown()
	s := c.user() + "@" + shown
	if shown != c.Addr || c.port() != 22 {
		s += " (" + net.JoinHostPort(c.Addr, strconv.Itoa(c.port())) + ")"
	}
	return s
}

func (c Config) user() string {
	if c.User == "" {
		return "root"
	}
	return c.User
}

func (c Config) port() int {
	if c.Port == 0 {
		return 22
	}
	return c.Port
}

func (c Config) keyAlias() string {
	if c.HostKeyAlias != "" {
		return c.HostKeyAlias
	}
	return c.Addr
}

// HostKeyError is a refused host key: unknown (Want empty) or changed.
type HostKeyError struct {
	Target     string
	KnownHosts []string
	Got        ssh.PublicKey
	Want       []knownhosts.KnownKey
}

func (e *HostKeyError) Error() string {
	got := e.Got.Type() + " " + ssh.FingerprintSHA256(e.Got)
	files := strings.Join(e.KnownHosts, ", ")
	if len(e.Want) == 0 {
		return fmt.Sprintf("host key of %s is unknown: it offered %s, and %s has no key for it; add the host's key to the known_hosts file after checking it out of band", e.Target, got, files)
	}
	var want []string
	for _, k := range e.Want {
		want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
	}
	return fmt.Sprintf("host key of %s CHANGED: it offered %s but known_hosts expects %s; if the host was really reinstalled, replace its line in known_hosts, otherwise someone may be intercepting the connection", e.Target, got, strings.Join(want, ", "))
}

// Client is one SSH connection to a machine, and the connections to its
// jump hosts it runs through (closed with it).
type Client struct {
	cfg    Config
	conn   *ssh.Client
	jumps  []*ssh.Client
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error // why the connection died, when it did
}

// Dial connects and authenticates, through cfg.Jump's hosts when it has
// any. Errors name the target, the hop that failed and what to fix.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("ssh: no address to connect to")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 5 * time.Second
	}
	if cfg.KeepAliveMax <= 0 {
		cfg.KeepAliveMax = 3
	}
	var jumps []*ssh.Client
	closeJumps := func() {
		for i := len(jumps) - 1; i >= 0; i-- {
			jumps[i].Close()
		}
	}
	var via *ssh.Client
	for i, j := range cfg.Jump {
		if j.ConnectTimeout <= 0 {
			j.ConnectTimeout = cfg.ConnectTimeout
		}
		label := fmt.Sprintf("ssh %s: jump host %d of %d, %s,", cfg.Name(), i+1, len(cfg.Jump), j.hopName())
		c, err := dialHop(ctx, j, via, label, "jump host "+j.hopName()+" on the way to "+cfg.hopName())
		if err != nil {
			closeJumps()
			return nil, err
		}
		jumps = append(jumps, c)
		via = c
	}
	c, err := dialHop(ctx, cfg, via, "ssh "+cfg.Name()+":", cfg.Name())
	if err != nil {
		closeJumps()
		return nil, err
	}
	cl := &Client{cfg: cfg, conn: c, jumps: jumps, closed: make(chan struct{})}
	go cl.keepalive()
	return cl, nil
}

// dialHop opens one hop: TCP from here (via nil) or a channel through the
// hop before, then the SSH handshake, each bounded by cfg.ConnectTimeout.
// label starts every error ("ssh root@m:"); target names the hop in a
// host key error.
func dialHop(ctx context.Context, cfg Config, via *ssh.Client, label, target string) (*ssh.Client, error) {
	if len(cfg.KnownHosts) == 0 {
		return nil, fmt.Errorf("%s no known_hosts file given; strict host key checking needs one", label)
	}
	hkcb, err := hostKeyCallback(cfg, target)
	if err != nil {
		return nil, fmt.Errorf("%s %v", label, err)
	}
	keys, err := newKeyring(cfg)
	if err != nil {
		return nil, err
	}
	defer keys.close()
	if len(keys.signers()) == 0 {
		return nil, fmt.Errorf("%s no client key: %s", label, keys.explain(false))
	}
	sc := &ssh.ClientConfig{
		User:            cfg.user(),
		Auth:            keys.methods(),
		HostKeyCallback: hkcb,
		Timeout:         cfg.ConnectTimeout,
	}
	if algos := knownAlgos(cfg); len(algos) > 0 {
		// Ask for the key type known_hosts has, so a host with several
		// keys offers the one we can check.
		sc.HostKeyAlgorithms = algos
	}
	addr := net.JoinHostPort(cfg.Addr, strconv.Itoa(cfg.port()))
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var conn net.Conn
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		conn, err = via.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		switch {
		case dctx.Err() != nil && ctx.Err() == nil:
			return nil, fmt.Errorf("%s no TCP connection within %s (host down or unreachable?)", label, cfg.ConnectTimeout)
		case via != nil:
			return nil, fmt.Errorf("%s the jump host could not open a connection to %s: %w", label, addr, err)
		}
		return nil, fmt.Errorf("%s connect: %w", label, err)
	}
	// The handshake is bounded by closing the connection: a channel
	// through a jump host has no deadlines to set. The context's own end
	// closes it too, and is then reported as the context's (a caller
	// with a shorter deadline names its own timeout).
	var timedOut atomic.Bool
	timer := time.AfterFunc(cfg.ConnectTimeout, func() {
		timedOut.Store(true)
		conn.Close()
	})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, sc)
	stopped := timer.Stop()
	stop()
	if err == nil && !stopped {
		c.Close()
		err = errors.New("timed out")
	}
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %w", label, ctx.Err())
		}
		if timedOut.Load() {
			return nil, fmt.Errorf("%s handshake did not finish within %s (it took the connection and did not answer)", label, cfg.ConnectTimeout)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("%s authentication failed (%v): %s", label, err, keys.explain(true))
		}
		return nil, fmt.Errorf("%s %w", label, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// hostKeyCallback checks the host's key against cfg.KnownHosts under its
// HostKeyAlias (else its address) and port, strictly: unknown or changed
// is a *HostKeyError naming target.
func hostKeyCallback(cfg Config, target string) (ssh.HostKeyCallback, error) {
	for _, f := range cfg.KnownHosts {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("known_hosts %s: %v", f, err)
		}
	}
	cb, err := knownHostsDB(cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	lookup := net.JoinHostPort(cfg.keyAlias(), strconv.Itoa(cfg.port()))
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(lookup, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			return &HostKeyError{Target: target, KnownHosts: cfg.KnownHosts, Got: key, Want: ke.Want}
		}
		return err
	}, nil
}

// knownAlgos lists the key types known_hosts holds for the target, so the
// server is asked for one we can verify.
func knownAlgos(cfg Config) []string {
	cb, err := knownHostsDB(cfg.KnownHosts)
	if err != nil {
		return nil
	}
	// A throwaway key: the KeyError lists every known key for the host.
	err = cb(net.JoinHostPort(cfg.keyAlias(), strconv.Itoa(cfg.port())), &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var out []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			out = append(out, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			out = append(out, t)
		}
	}
	return out
}

func (c *Client) keepalive() {
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		res := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			res <- err
		}()
		select {
		case err := <-res:
			if err != nil {
				c.fail(fmt.Errorf("connection lost: %v", err))
				return
			}
			missed = 0
		case <-time.After(c.cfg.KeepAlive):
			missed++
			if missed >= c.cfg.KeepAliveMax {
				c.fail(fmt.Errorf("no answer to %d keepalives in %s", missed, time.Duration(missed)*c.cfg.KeepAlive))
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.Close()
}

// Config returns the configuration the client was dialled with.
func (c *Client) Config() Config { return c.cfg }

// Name names the machine in messages: user@alias (addr:port), as
// Config.Name.
func (c *Client) Name() string { return c.cfg.Name() }

// Close closes the connection; running commands fail.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.conn.Close()
		for i := len(c.jumps) - 1; i >= 0; i-- {
			c.jumps[i].Close()
		}
	})
	return err
}

// ExitError is a remote command that ran and failed: the same type
// tasks/localexec returns for a command on this machine.
type ExitError = hostexec.ExitError

// Run runs command (a shell command line) on the machine with the given
// stdin (may be nil), streaming its output to stdout and stderr (nil
// discards). Cancelling ctx signals the command and closes the session.
// A non-zero exit is an *ExitError.
func (c *Client) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	s, err := c.conn.NewSession()
	if err != nil {
		return c.connErr(err)
	}
	defer s.Close()
	errTail := &tail.Buffer{Max: 2048}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	s.Stdin = stdin
	s.Stdout = stdout
	s.Stderr = io.MultiWriter(stderr, errTail)
	if err := s.Start(command); err != nil {
		return c.connErr(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// sshd does not kill a command when its channel closes; the
		// signal asks it to, and we do not wait for a command that
		// ignores both.
		s.Signal(ssh.SIGTERM)
		s.Close()
		return fmt.Errorf("%s: %q: %w", c.cfg.Name(), command, ctx.Err())
	case <-c.closed:
		s.Close()
		return c.connErr(io.EOF)
	}
	return c.exitErr(command, err, errTail.String())
}

func (c *Client) exitErr(command string, err error, stderr string) error {
	if err == nil {
		return nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		e := &ExitError{Target: c.cfg.Name(), Command: command, Code: ee.ExitStatus(), Stderr: tail.LastLine(stderr)}
		if ee.Signal() != "" {
			e.Code, e.Signal = -1, ee.Signal()
		}
		return e
	}
	var me *ssh.ExitMissingError
	if errors.As(err, &me) {
		return c.connErr(err)
	}
	return c.connErr(err)
}

func (c *Client) connErr(err error) error {
	c.mu.Lock()
	why := c.err
	c.mu.Unlock()
	if why != nil {
		return fmt.Errorf("ssh %s: %v", c.cfg.Name(), why)
	}
	return fmt.Errorf("ssh %s: %w", c.cfg.Name(), err)
}

// Output runs command and returns its stdout; stderr goes into the error.
func (c *Client) Output(ctx context.Context, command string, stdin io.Reader) ([]byte, error) {
	var out strings.Builder
	err := c.Run(ctx, command, stdin, &out, nil)
	return []byte(out.String()), err
}

// Session is a command with its stdin and stdout as streams, for protocols
// spoken over a command (nix-daemon --stdio).
type Session struct {
	s      *ssh.Session
	c      *Client
	cmd    string
	Stdin  io.WriteCloser
	Stdout io.Reader
	stderr *tail.Buffer
}

// Start starts command with piped stdin and stdout; stderr is kept (its
// tail) for the error Wait returns.
func (c *Client) Start(command string) (*Session, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, c.connErr(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, c.connErr(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, c.connErr(err)
	}
	errTail := &tail.Buffer{Max: 4096}
	s.Stderr = errTail
	if err := s.Start(command); err != nil {
		s.Close()
		return nil, c.connErr(err)
	}
	return &Session{s: s, c: c, cmd: command, Stdin: in, Stdout: out, stderr: errTail}, nil
}

// Target names the machine the session runs on.
func (s *Session) Target() string { return s.c.cfg.Name() }

// Stderr returns the last lines the command wrote to stderr so far.
func (s *Session) Stderr() string { return strings.TrimSpace(s.stderr.String()) }

// Wait closes stdin, waits for the command and returns its exit error.
func (s *Session) Wait() error {
	s.Stdin.Close()
	err := s.s.Wait()
	return s.c.exitErr(s.cmd, err, s.stderr.String())
}

// Close ends the session at once.
func (s *Session) Close() error { return s.s.Close() }

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
