package terraform

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

// A fresh Compute Engine instance's host key, from its provider.
//
// An instance boots its image, whose sshd makes a host key at first boot
// that nobody chose. The image's guest environment writes that key to the
// instance's serial console between two marker lines, and the Compute
// API serves the console (instances.getSerialPortOutput) to whoever is
// authorised for the instance: the same party that created it. Reading the
// key there is how the deployer's first connection to a new instance is
// checked rather than trusted on first use (gcloud compute ssh does the
// same with the guest attributes). Hetzner's API has no such door; its
// servers' image keys are vouched for by ssh's own known_hosts only
// (tasks/deploy/bootstrap.go).

// Console markers around the host keys on an instance's serial console.
const (
	ConsoleHostKeysBegin = "-----BEGIN SSH HOST KEY KEYS-----"
	ConsoleHostKeysEnd   = "-----END SSH HOST KEY KEYS-----"
)

// DefaultComputeEndpoint is the Compute API's base URL when
// GOOGLE_COMPUTE_CUSTOM_ENDPOINT names none.
const DefaultComputeEndpoint = "https://compute.googleapis.com/compute/v1/"

// ConsoleHostKeys returns the host keys machine's instance wrote to its
// serial console, read through the Compute API the configuration uses: the
// one the session names (the front door's fake when no API of the user's
// is named, as for tf:apply) or the user's, with a token from the
// credentials the provider takes (computeToken: an access token, a service
// account key, gcloud's user credentials).
// The instance is the state's google_compute_instance.<machine> (project,
// zone and name as terraform recorded them). ok is false when the state
// has no such instance.
func ConsoleHostKeys(ctx context.Context, o Options, machine string) (keys []ssh.PublicKey, ok bool, err error) {
	s, err := Open(ctx, o)
	if err != nil {
		return nil, false, err
	}
	defer s.Close()
	b, err := s.Workspace.Vault.Read(s.Workspace.StateFile)
	if err != nil || b == nil {
		return nil, false, err
	}
	in, ok, err := stateInstance(b, terranix.ServerResourceType[fleet.ProviderGCP], machine)
	if err != nil || !ok {
		return nil, ok, err
	}
	get := func(k string) string { return firstOf(s.Workspace.Env[k], os.Getenv(k)) }
	ep := firstOf(get("GOOGLE_COMPUTE_CUSTOM_ENDPOINT"), DefaultComputeEndpoint)
	token, _, err := computeToken(ctx, get)
	if err != nil {
		return nil, true, fmt.Errorf("reading %s's console: %w", machine, err)
	}
	out, err := serialPort(ctx, ep, token, in)
	if err != nil {
		return nil, true, fmt.Errorf("%s's console: %w", machine, err)
	}
	keys, err = ParseConsoleHostKeys(out)
	return keys, true, err
}

// instanceRef is where the state says an instance is.
type instanceRef struct {
	Project, Zone, Name string
}

// stateInstance finds resource typ.name's instance in a state (parsed
// as every state read here is: parseState): its project, zone and name
// attributes.
func stateInstance(b []byte, typ, name string) (instanceRef, bool, error) {
	h, err := parseState(b)
	if err != nil {
		return instanceRef{}, false, err
	}
	for _, r := range h.Resources {
		if r.Mode != "managed" || r.Type != typ || r.Name != name || len(r.Instances) != 1 {
			continue
		}
		var in instanceRef
		if err := json.Unmarshal(r.Instances[0].Attributes, &in); err != nil || in.Project == "" || in.Zone == "" || in.Name == "" {
			return instanceRef{}, false, fmt.Errorf("terraform state: %s.%s has no project, zone or name", typ, name)
		}
		return in, true, nil
	}
	return instanceRef{}, false, nil
}

// serialPort reads port 1 of the instance's console, every page of it.
func serialPort(ctx context.Context, endpoint, token string, in instanceRef) (string, error) {
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/"
	}
	base := endpoint + "projects/" + url.PathEscape(in.Project) + "/zones/" + url.PathEscape(in.Zone) + "/instances/" + url.PathEscape(in.Name) + "/serialPort"
	client := &http.Client{Timeout: 30 * time.Second}
	var all strings.Builder
	start := "0"
	for page := 0; page < 64; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?port=1&start="+url.QueryEscape(start), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("getSerialPortOutput: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		var r struct {
			Contents string `json:"contents"`
			Next     string `json:"next"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", fmt.Errorf("getSerialPortOutput: %v", err)
		}
		all.WriteString(r.Contents)
		if r.Contents == "" || r.Next == "" || r.Next == start {
			break
		}
		start = r.Next
	}
	return all.String(), nil
}

// ParseConsoleHostKeys returns the keys of the last host-key block of a
// console's output (an instance that booted twice wrote two; the last is
// the running one's). Lines of the block that are no public key are an
// error: a console is the instance's to write, and a block that does not
// parse vouches for nothing.
func ParseConsoleHostKeys(console string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	var cur []ssh.PublicKey
	in, found := false, false
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == ConsoleHostKeysBegin:
			in, cur = true, nil
		case line == ConsoleHostKeysEnd && in:
			in, found, keys = false, true, cur
		case in && line != "":
			k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				return nil, fmt.Errorf("host key block: %q is no public key", line)
			}
			cur = append(cur, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no %s block on the console (yet): the image reports its keys there once sshd has made them", ConsoleHostKeysBegin)
	}
	return keys, nil
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
