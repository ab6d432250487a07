package vars

import (
	"bytes"
	"fmt"
	"strings"
)

// KnownHosts returns an ssh known_hosts file for every machine whose host
// key has been generated: "<host> ssh-ed25519 AAAA...", with host taken from
// deploy.targetHost (user and port dropped; "[host]:port" when a port is
// given) and the machine name. Because host keys are generated vars, the
// deployer can verify a machine's first SSH connection, even to a freshly
// installed machine.
func (v *Vars) KnownHosts() ([]byte, error) {
	p, err := v.Plan()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, m := range p.Fleet.MachineNames() {
		hk := p.hostKey[m]
		if hk == nil {
			continue
		}
		if stamp, _ := v.store().readStamp(hk); stamp == nil {
			continue
		}
		key, err := v.diskHostKey(p)(m)
		if err != nil {
			return nil, err
		}
		if _, err := machineRecipient(m, key); err != nil {
			return nil, err
		}
		f := strings.Fields(string(key))
		if len(f) < 2 {
			return nil, fmt.Errorf("machine %q: malformed host key", m)
		}
		hosts := []string{m}
		if h := knownHostsName(p.Fleet.Machines[m].Deploy.TargetHost); h != "" && h != m {
			hosts = append(hosts, h)
		}
		fmt.Fprintf(&b, "%s %s %s\n", strings.Join(hosts, ","), f[0], f[1])
	}
	return b.Bytes(), nil
}

func knownHostsName(target string) string {
	t := strings.TrimSpace(target)
	if i := strings.LastIndex(t, "@"); i >= 0 {
		t = t[i+1:]
	}
	if i := strings.LastIndex(t, ":"); i >= 0 && !strings.Contains(t[:i], ":") {
		return "[" + t[:i] + "]:" + t[i+1:]
	}
	return t
}
