// Package status is fleet:status: what each machine runs and whether that
// is the flake's current system, one SSH connection per host, in parallel.
package status

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vanixiets/vanixiets/tasks/activate"
	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
)

// States of a row.
const (
	UpToDate = "up to date"
	Behind   = "behind"
	Never    = "never deployed" // reachable, runs no system of ours
	Unknown  = "unknown"        // unreachable, or the flake's system could not be evaluated
)

// DefaultTimeout gives up on a host.
const DefaultTimeout = 10 * time.Second

// Row is one machine.
type Row struct {
	Machine    string    `json:"machine"`
	Target     string    `json:"target"`
	State      string    `json:"state"`
	Generation int       `json:"generation"`
	Running    string    `json:"running"`            // /run/current-system's store path ("" none)
	Activated  time.Time `json:"activated,omitzero"` // when /run/current-system last changed, when the host says
	Want       string    `json:"want"`               // the flake's toplevel for it ("" when it failed to evaluate)
	Cloud      string    `json:"cloud,omitempty"`    // cloud machines: enabled or disabled in the fleet
	// Terraform is a cloud machine's server in the terraform state
	// (terraform.Presence: exists, disabled, missing, exists (disabled);
	// NoStateFile; Unknown with TerraformError); "" when not read.
	Terraform      string `json:"terraform,omitempty"`
	TerraformError string `json:"terraformError,omitempty"`
	// Secrets compares the machine's deployable secrets with the host's
	// (columns.go: SecretsCurrent, SecretsPending, SecretsNone,
	// SecretsUnknown with SecretsError); "" when the flake has no vars or
	// the host was not reached. PendingSecrets a deploy would send,
	// StaleSecrets it would remove; CurrentSecrets are as the vars have them.
	Secrets        string   `json:"secrets,omitempty"`
	PendingSecrets []string `json:"pendingSecrets,omitempty"`
	StaleSecrets   []string `json:"staleSecrets,omitempty"`
	CurrentSecrets int      `json:"currentSecrets,omitempty"`
	SecretsError   string   `json:"secretsError,omitempty"`
	Error          string   `json:"error,omitempty"` // why the state is unknown
	// Unreachable: the host did not answer (within the timeout); State is Unknown.
	Unreachable bool `json:"unreachable,omitempty"`
}

// UnreachableError is returned when hosts did not answer; Rows are complete.
type UnreachableError struct{ Machines []string }

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%d machine(s) unreachable: %s", len(e.Machines), strings.Join(e.Machines, ", "))
}

// Run reads the selected machines' systems and pending secrets (each host
// given up at o.Timeout) while it evaluates their toplevels, and compares;
// with o.State, the cloud machines' servers in the terraform state too. d
// resolves connections as a deployment does (a lab plugs in through its
// Options). The error is an *UnreachableError when any host did not answer.
func Run(ctx context.Context, d *deploy.Deployer, selectors []string, o Options) ([]Row, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	f, names, err := d.Look(ctx, selectors)
	if err != nil {
		return nil, err
	}
	machines := make([]*fleet.Machine, len(names))
	for i, n := range names {
		machines[i] = f.Machines[n]
	}
	var (
		wg     sync.WaitGroup
		want   map[string]string
		failed map[string]error
		rows   = make([]Row, len(machines))
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		want, failed = o.Toplevels.toplevels(ctx, machines, d.Toplevels)
	}()
	for i, m := range machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = probe(ctx, d, m, timeout)
		}()
	}
	wg.Wait()
	readTerraform(o.State, machines, rows)
	var down []string
	for i := range rows {
		r := &rows[i]
		r.Want = want[r.Machine]
		if r.Unreachable {
			down = append(down, r.Machine)
			continue
		}
		r.State = compare(r.Running, r.Want)
		if e := failed[r.Machine]; e != nil {
			r.Error = "evaluate: " + firstLine(e.Error())
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Machine < rows[j].Machine })
	if len(down) > 0 {
		return rows, &UnreachableError{Machines: down}
	}
	return rows, nil
}

// compare is a reachable host's state.
func compare(running, want string) string {
	switch {
	case want == "":
		return Unknown
	case running == want:
		return UpToDate
	case running == "":
		return Never
	}
	return Behind
}

// probe reads one host over one connection, given up at timeout.
func probe(ctx context.Context, d *deploy.Deployer, m *fleet.Machine, timeout time.Duration) Row {
	r := Row{Machine: m.Name, Target: m.Deploy.TargetHost, State: Unknown}
	if r.Target == "" {
		r.Target = "root@" + m.Name
	}
	if m.Cloud != nil {
		r.Cloud = "enabled"
		if !m.Cloud.Enabled {
			r.Cloud = "disabled"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) Row {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%s (%s) did not answer within %s", m.Name, r.Target, timeout)
		}
		r.Error = firstLine(err.Error())
		r.Unreachable = true
		return r
	}
	c, err := d.Dial(ctx, m)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	st, err := activate.Observe(ctx, c)
	if err != nil {
		return fail(err)
	}
	r.Running, r.Generation, r.Activated = st.Toplevel, st.Generation, st.Activated
	if err := readSecrets(ctx, d, c, m, &r); err != nil {
		return fail(err)
	}
	r.State = "" // set by compare once the flake is evaluated
	return r
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Table prints the rows, a summary line and notes: which secrets are
// pending where, why a column says unknown.
func Table(rows []Row) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "MACHINE\tSTATE\tGEN\tACTIVATED\tRUNNING\tSECRETS\tCLOUD")
	count := map[string]int{}
	for _, r := range rows {
		count[r.State]++
		gen, act, run := "-", "-", short(r.Running)
		if r.Running != "" || r.Generation > 0 {
			gen = strconv.Itoa(r.Generation)
		}
		if !r.Activated.IsZero() {
			act = r.Activated.Format("2006-01-02 15:04Z")
		}
		state := r.State
		if r.State == Behind || r.State == Never {
			state += " (flake: " + short(r.Want) + ")"
		}
		if r.Error != "" {
			state += ": " + r.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Machine, state, gen, act, run, secretsCell(r), cloudCell(r))
	}
	w.Flush()
	down := 0
	for _, r := range rows {
		if r.Unreachable {
			down++
		}
	}
	var parts []string
	for _, s := range []string{UpToDate, Behind, Never, Unknown} {
		if count[s] == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s", count[s], s)
		if s == Unknown && down > 0 {
			p += fmt.Sprintf(" (%d unreachable)", down)
		}
		parts = append(parts, p)
	}
	if n := countPending(rows); n > 0 {
		parts = append(parts, fmt.Sprintf("%d with secrets to deploy", n))
	}
	fmt.Fprintf(&b, "%d machine(s): %s\n", len(rows), strings.Join(parts, ", "))
	for _, l := range notes(rows) {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// short is a store path's hash prefix and name: /nix/store/abcdefgh…-name.
func short(p string) string {
	if p == "" {
		return "-"
	}
	base := strings.TrimPrefix(p, "/nix/store/")
	if h, name, ok := strings.Cut(base, "-"); ok && len(h) > 8 {
		return h[:8] + "…-" + name
	}
	return base
}
