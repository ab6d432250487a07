package activate

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// cannedHost answers every command with the same output.
type cannedHost []byte

func (h cannedHost) Run(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) error {
	_, err := stdout.Write(h)
	return err
}
func (h cannedHost) Output(context.Context, string, io.Reader) ([]byte, error) { return h, nil }
func (cannedHost) Name() string                                                { return "alpha" }

// TestObserve reads observedScript's two parts, the marker lines and the
// link's archive after them, from what real tar wrote.
func TestObserve(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current-system")
	assert.NilError(t, os.Symlink("/nix/store/0123456789abcdefghijklmnopqrstuv-system", link))
	assert.NilError(t, exec.Command("touch", "-h", "-t", "202611300915.42", link).Run())
	archive, err := exec.Command("tar", "-cf", "-", "-C", dir, "current-system").Output()
	assert.NilError(t, err)
	const top = "/nix/store/0123456789abcdefghijklmnopqrstuv-system"
	when := time.Date(2026, 11, 30, 9, 15, 42, 0, time.Local).UTC()
	for _, tc := range []struct {
		name string
		out  string
		want State
	}{
		{"running", "VANIXIETS-TOP " + top + "\nVANIXIETS-GEN 7\nVANIXIETS-PROFILE " + top + "\n" + tarMarker + string(archive),
			State{Toplevel: top, Generation: 7, Profile: top, Activated: when}},
		{"no tar on the host", "VANIXIETS-TOP " + top + "\nVANIXIETS-GEN 7\n" + tarMarker,
			State{Toplevel: top, Generation: 7}},
		// A link's archive without a running system (a host mid-install)
		// says no time: nothing runs whose activation it could be.
		{"nothing running", "VANIXIETS-TOP \nVANIXIETS-GEN 0\n" + tarMarker + string(archive), State{}},
		{"an older script without the archive", "VANIXIETS-TOP " + top + "\nVANIXIETS-GEN 2\n", State{Toplevel: top, Generation: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Observe(context.Background(), cannedHost(tc.out))
			assert.NilError(t, err)
			assert.DeepEqual(t, st, tc.want)
		})
	}
}

// TestLinkTime reads the link's own mtime from real tar archives: GNU
// tar's default format, pax (a Mac's bsdtar writes pax headers), an
// AppleDouble entry before it, and no link at all.
func TestLinkTime(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current-system")
	assert.NilError(t, os.Symlink("/nix/store/0123456789abcdefghijklmnopqrstuv-system", link))
	// The link's own time (touch -h sets a link's, not its target's).
	assert.NilError(t, exec.Command("touch", "-h", "-t", "202611300915.42", link).Run())
	fi, err := os.Lstat(link)
	assert.NilError(t, err)
	want := fi.ModTime().UTC().Truncate(time.Second)
	assert.Equal(t, want.Format("2006-01-02 15:04:05"), time.Date(2026, 11, 30, 9, 15, 42, 0, time.Local).UTC().Format("2006-01-02 15:04:05"))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "._current-system"), []byte("appledouble"), 0o644))

	tarOf := func(args ...string) []byte {
		out, err := exec.Command("tar", append([]string{"-cf", "-", "-C", dir}, args...)...).Output()
		assert.NilError(t, err)
		return out
	}
	for _, tc := range []struct {
		name    string
		archive []byte
		want    time.Time
	}{
		{"GNU tar", tarOf("current-system"), want},
		{"pax", tarOf("--format=pax", "current-system"), want},
		{"AppleDouble first", tarOf("._current-system", "current-system"), want},
		{"no link", tarOf("._current-system"), time.Time{}},
		{"nothing", nil, time.Time{}},
		{"not tar", []byte("stat: illegal option -- c\n"), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := linkTime(tc.archive)
			assert.Equal(t, got.Truncate(time.Second), tc.want)
		})
	}
}
