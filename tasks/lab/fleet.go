package lab

import "github.com/vanixiets/vanixiets/tasks/fleet"

// MachinesFromFleet turns the fleet inventory into the lab's machine list
// (Config.Machines), keeping each machine's deploy.targetHost so the lab's
// ssh_config answers to exactly what deployers will dial.
func MachinesFromFleet(f *fleet.Fleet) []Machine {
	var ms []Machine
	for _, m := range f.SortedMachines() {
		t := m.Deploy.TargetHost
		if t == "" {
			t = "root@" + m.Name
		}
		ms = append(ms, Machine{Name: m.Name, TargetHost: t})
	}
	return ms
}
