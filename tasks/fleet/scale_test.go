package fleet

import (
	"fmt"
	"slices"
	"testing"

	"gotest.tools/v3/assert"
)

// bigFleet is a fleet of n machines shaped like testdata/fleets/forest:
// roles by tag and by name, an admin everywhere, a user on some.
func bigFleet(n int) *Fleet {
	f := &Fleet{Machines: map[string]*Machine{},
		Users: map[string]*User{
			"ops": {Name: "ops", AgeKeys: []string{"age1a4k6smuxusgaekd0vyekut6ev5l4m58je24phwrpagx3gyjkhs4qzm2crd"}},
			"dev": {Name: "dev"},
		},
		Instances: map[string]*Instance{
			"ops": {Name: "ops", Module: Module{Name: ModuleUsers}, Roles: map[string]*Role{
				"default": {Tags: StringSet{TagAll: {}}, Settings: map[string]any{"user": "ops", "admin": true}}}},
			"dev": {Name: "dev", Module: Module{Name: ModuleUsers}, Roles: map[string]*Role{
				"default": {Tags: StringSet{"desk": {}}, Machines: map[string]Member{"m0001": {}}, Settings: map[string]any{"user": "dev"}}}},
			"zerotier": {Name: "zerotier", Module: Module{Name: ModuleZerotier}, Roles: map[string]*Role{
				"controller": {Machines: map[string]Member{"m0000": {}}},
				"peer":       {Tags: StringSet{"web": {}, "desk": {}}}}},
		}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%04d", i)
		tag := []string{"web", "db", "desk"}[i%3]
		f.Machines[name] = &Machine{Name: name, MachineClass: ClassNixOS, System: "x86_64-linux", Tags: []string{tag}, Deploy: Deploy{TargetHost: "root@" + name},
			Generators: map[string]*Generator{"openssh": {Name: "openssh", Script: "true",
				Files: map[string]*File{"key": {Name: "key", Secret: true, Deploy: true, Owner: "root", Group: "root", Mode: "0400", NeededFor: "services"}}}}}
	}
	return f
}

// TestPerMachineQueries: RolesOf, UsersOf and Admins, which answer for one
// machine without listing every role's machines, say what the listings
// (MachinesOf, Assignments) say, for machines named, tagged, "all", and a
// name the fleet does not declare.
func TestPerMachineQueries(t *testing.T) {
	f := bigFleet(9)
	f.Instances["dev"].Roles["default"].Machines["gone"] = Member{} // named, not declared
	for _, m := range append(f.MachineNames(), "gone") {
		var roles []RoleRef
		for _, in := range f.InstanceNames() {
			for _, rn := range sortedKeys(f.Instances[in].Roles) {
				if slices.Contains(f.MachinesOf(in, rn), m) {
					roles = append(roles, RoleRef{Instance: in, Module: f.Instances[in].Module.Name, Role: rn})
				}
			}
		}
		users, admins := map[string]struct{}{}, map[string]struct{}{}
		for _, a := range f.Assignments() {
			if slices.Contains(a.Machines, m) {
				users[a.User] = struct{}{}
				if a.Admin {
					admins[a.User] = struct{}{}
				}
			}
		}
		adminNames := []string{}
		for _, u := range f.Admins(m) {
			adminNames = append(adminNames, u.Name)
		}
		assert.DeepEqual(t, f.RolesOf(m), roles)
		assert.DeepEqual(t, f.UsersOf(m), sortedKeys(users))
		assert.DeepEqual(t, adminNames, sortedKeys(admins))
	}
	// The shape the test relies on: m0001 is a named user of dev, m0002 a
	// tagged one, m0000 neither.
	assert.DeepEqual(t, f.UsersOf("m0001"), []string{"dev", "ops"})
	assert.DeepEqual(t, f.UsersOf("m0002"), []string{"dev", "ops"})
	assert.DeepEqual(t, f.UsersOf("m0000"), []string{"ops"})
	assert.Check(t, len(f.UsersOf("gone")) == 0)
}

// BenchmarkValidate: Validate over fleets of 64 and 1,024 machines; the
// cost per machine must not grow with the fleet. When Admins listed every
// role's machines for each machine it did: 5 ms for 64 machines, 552 ms
// for 1,024 (0.08 and 0.54 ms per machine); now 0.5 and 16 ms on the same
// machine, and 4,096 cost no more per machine than 1,024.
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{64, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := bigFleet(n)
			for i := 0; i < b.N; i++ {
				if err := f.Validate(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/machine")
		})
	}
}
