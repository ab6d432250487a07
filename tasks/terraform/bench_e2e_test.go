//go:build e2e

package terraform

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/terranix"
)

func copyFlake(tb testing.TB) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "flake")
	assert.NilError(tb, os.MkdirAll(dst, 0o755))
	for _, f := range []string{"flake.nix", "toggle.nix"} {
		b, err := os.ReadFile(filepath.Join("..", "terranix", "testdata", "flake", f))
		assert.NilError(tb, err)
		assert.NilError(tb, os.WriteFile(filepath.Join(dst, f), b, 0o644))
	}
	return dst
}

// BenchmarkRenderPlanNoChange: render (warm cache) + terraform plan of a
// fleet whose server already exists: the "nothing changed" path of
// tf:render followed by tf:plan. Target: at most 3 s.
func BenchmarkRenderPlanNoChange(b *testing.B) {
	nixtest.New(b)
	e := newEnv(b, fakehcloud.Config{})
	e.w.Vault.Recipients = withOwn(nil, e.w.Vault.Identities)
	ctx := context.Background()
	rd := &terranix.Renderer{Flake: copyFlake(b), CacheDir: filepath.Join(b.TempDir(), "cache")}
	r, err := rd.Render(ctx)
	assert.NilError(b, err)
	_, err = e.w.Plan(ctx, r)
	assert.NilError(b, err, e.log.String())
	_, err = e.w.Apply(ctx, r, Yes)
	assert.NilError(b, err, e.log.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := rd.Render(ctx)
		assert.NilError(b, err)
		assert.Assert(b, r.Cached)
		p, err := e.w.Plan(ctx, r)
		assert.NilError(b, err, e.log.String())
		assert.Assert(b, !p.HasChanges(), p.Summary())
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/render+plan")
}

// applyTwo plans and applies two new servers and returns how long it took.
func applyTwo(b *testing.B, e *env) time.Duration {
	start := time.Now()
	e.planApply(b, "alpha", "beta")
	return time.Since(start)
}

// BenchmarkApplyTwoServersMemory: plan + apply creating two servers against
// the fake with the in-memory backend.
func BenchmarkApplyTwoServersMemory(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, fakehcloud.Config{})
		b.StartTimer()
		total += applyTwo(b, e)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/apply2")
}

// BenchmarkApplyTwoServersLab: the same with every server a real lab host
// (network namespace + sshd) that must be up before the API answers.
// Target: at most 15 s. Needs root.
func BenchmarkApplyTwoServersLab(b *testing.B) {
	labtest.NeedRoot(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := labtest.Open(b, labtestConfig())
		e := newEnv(b, fakehcloud.Config{Backend: &fakehcloud.LabBackend{Lab: l}})
		b.StartTimer()
		total += applyTwo(b, e)
		b.StopTimer()
		for _, m := range []string{"alpha", "beta"} {
			a, ok := e.fake.ServerAddr(m)
			assert.Assert(b, ok)
			c, err := net.DialTimeout("tcp", net.JoinHostPort(a.String(), "22"), 5*time.Second)
			assert.NilError(b, err, "server %s is a lab host with sshd at %s", m, a)
			c.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/apply2")
}

// TestLabBackedProvisionAndToggle: terraform creates servers that are real
// lab hosts (sshd answering at the reported address) and deletes them.
func TestLabBackedProvisionAndToggle(t *testing.T) {
	labtest.NeedRoot(t)
	l := labtest.Open(t, labtestConfig())
	e := newEnv(t, fakehcloud.Config{Backend: &fakehcloud.LabBackend{Lab: l}})
	e.planApply(t, "alpha", "beta")
	a, ok, err := e.w.Address("beta")
	assert.NilError(t, err)
	assert.Assert(t, ok)
	assert.Assert(t, l.Range().Contains(a), "address %s from the lab's range %s", a, l.Range())
	c, err := net.DialTimeout("tcp", net.JoinHostPort(a.String(), "22"), 5*time.Second)
	assert.NilError(t, err)
	c.Close()
	e.planApply(t, "alpha")
	hosts, err := l.Hosts()
	assert.NilError(t, err)
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	assert.DeepEqual(t, names, []string{"alpha"})
}

// TestValidateGCP checks google_compute_instance resources with terraform
// validate and the google provider of the mirror (scripts/setup.sh builds
// it; a missing one is a failure here, with the install hint).
func TestValidateGCP(t *testing.T) {
	nixtest.New(t)
	e := newEnv(t, fakehcloud.Config{})
	e.w.Vault.Recipients = withOwn(nil, e.w.Vault.Identities)
	r, err := (&terranix.Renderer{Flake: copyFlake(t), CacheDir: t.TempDir()}).Render(context.Background())
	assert.NilError(t, err)
	assert.NilError(t, e.w.Validate(context.Background(), r), e.log.String())
}

func TestValidateHetznerOnly(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	assert.NilError(t, e.w.Validate(context.Background(), rendering(t, e.id, "alpha", "beta")), e.log.String())
}

// TestValidateNamesGoogleServices: the set-up's google provider registers
// only the services the fleet uses. A resource of another product fails
// validation with terraform's own words, and the suite adds the rebuild
// that would make it known.
func TestValidateNamesGoogleServices(t *testing.T) {
	e := newEnv(t, fakehcloud.Config{})
	assert.NilError(t, e.w.defaults())
	services := e.w.googleServices()
	if services == "" || slices.Contains(strings.Fields(services), "storage") {
		t.Skipf("the mirror's google provider is not a build without the storage service (its stamp names services %q)", services)
	}
	c, err := terranix.Parse([]byte(`{
  "terraform": {"required_providers": {"google": {"source": "hashicorp/google"}}},
  "provider": {"google": {"project": "lab"}},
  "resource": {"google_storage_bucket": {"state": {"name": "lab-state", "location": "EU"}}}
}`))
	assert.NilError(t, err)
	r, err := terranix.NewRendering(c, nil, []string{e.id.Recipient().String()})
	assert.NilError(t, err)
	err = e.w.Validate(context.Background(), r)
	assert.ErrorContains(t, err, `does not support resource type "google_storage_bucket"`)
	assert.ErrorContains(t, err, `GOOGLE_SERVICES="`+services+` <service>" bash scripts/install-google-provider.sh`)
}
