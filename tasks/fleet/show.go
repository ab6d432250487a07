package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table writes one line per machine: name, class, system, tags, deploy
// target, cloud provider, enabled toggle ("-" for machines without cloud)
// and the roles the machine holds (instance/role).
func (f *Fleet) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tCLASS\tSYSTEM\tTAGS\tTARGET\tPROVIDER\tENABLED\tROLES")
	for _, m := range f.SortedMachines() {
		provider, enabled := "-", "-"
		if m.Cloud != nil {
			provider = m.Cloud.Provider
			enabled = fmt.Sprint(m.Cloud.Enabled)
		}
		var roles []string
		for _, r := range f.RolesOf(m.Name) {
			roles = append(roles, r.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.MachineClass, m.System,
			dash(strings.Join(m.Tags, ",")), dash(m.Deploy.TargetHost), provider, enabled, dash(strings.Join(roles, ",")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Record is one machine's full record as `fleet:show` prints it: the
// contract's fields plus what the inventory derives for the machine.
type Record struct {
	Name string `json:"name"`
	*Machine
	Roles      []RoleRef `json:"roles"`
	Users      []string  `json:"users"`
	Admins     []string  `json:"admins"`
	Recipients []string  `json:"recipients"`
}

// Record returns the named machine's record, or an *UnknownMachineError.
func (f *Fleet) Record(name string) (*Record, error) {
	m, err := f.ByName(name)
	if err != nil {
		return nil, err
	}
	r := &Record{Name: name, Machine: m, Roles: f.RolesOf(name), Users: f.UsersOf(name), Recipients: f.Recipients(name)}
	for _, u := range f.Admins(name) {
		r.Admins = append(r.Admins, u.Name)
	}
	if r.Roles == nil {
		r.Roles = []RoleRef{}
	}
	for _, l := range []*[]string{&r.Users, &r.Admins, &r.Recipients} {
		if *l == nil {
			*l = []string{}
		}
	}
	return r, nil
}

// ShowJSON is Record as indented JSON.
func (f *Fleet) ShowJSON(name string) ([]byte, error) {
	r, err := f.Record(name)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(r, "", "  ")
}
