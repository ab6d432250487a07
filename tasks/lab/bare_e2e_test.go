//go:build e2e

package lab_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
)

// sshCode runs cmd on host over real ssh and returns its exit code and
// output (ssh itself must work).
func sshCode(t *testing.T, l *lab.Lab, host, cmd string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code, err := l.SSH(ctx, host, cmd, nil, &out, &out)
	assert.NilError(t, err, "ssh %s %q: %s", host, cmd, out.String())
	return code, out.String()
}

// TestBareHostBoots: a host a cloud creates boots its image (sshd and a
// shell, no Nix anywhere, an empty /nix), the kexec stand-in makes Nix and
// the disk at /mnt appear (same key, same address), what goes into the
// disk's store survives the reboot into the installed system, and the
// reboot runs the activation the disk's profile names.
func TestBareHostBoots(t *testing.T) {
	t.Parallel()
	before := snapshot(t)
	l := labtest.Open(t, lab.Config{})
	h, err := l.CreateBareHost(ctx, "srv1", nil)
	assert.NilError(t, err)
	assert.Equal(t, h.Boot, lab.BootImage)

	// The image: no Nix command, library or configuration; the rest of
	// the machine's tools are there.
	for _, cmd := range []string{"command -v nix", "command -v nix-store", "command -v nix-daemon", "command -v nix-env",
		"test -e /usr/lib/nix", "test -e /usr/libexec/nix", "test -e /etc/nix", "test -e /etc/is_kexec"} {
		code, out := sshCode(t, l, "srv1", cmd)
		assert.Check(t, code != 0, "%s on the bare image: %s", cmd, out)
	}
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "ls -A /nix"), ""))
	assert.Check(t, is.Contains(sshRun(t, l, "srv1", "command -v ssh-keygen; uname -s"), "Linux"))
	key := sshRun(t, l, "srv1", "cat /etc/ssh/ssh_host_ed25519_key.pub")

	// Created again (the fake's idempotent create): kept as it boots.
	h2, err := l.CreateBareHost(ctx, "srv1", nil)
	assert.NilError(t, err)
	assert.Equal(t, h2.Addr, h.Addr)
	assert.Equal(t, h2.Boot, lab.BootImage)

	// The installer: Nix, the kexec mark, its own empty store, the disk at
	// /mnt; the host key is kept (strict known_hosts, and the key file).
	assert.NilError(t, l.Kexec(ctx, "srv1"))
	assert.Check(t, is.Contains(sshRun(t, l, "srv1", "nix-store --version"), "2."))
	sshRun(t, l, "srv1", "test -e /etc/is_kexec && mountpoint -q /mnt")
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "cat /etc/ssh/ssh_host_ed25519_key.pub"), key))
	assert.Check(t, !strings.Contains(sshRun(t, l, "srv1", "cat /etc/nix/nix.conf"), "trusted-public-keys"),
		"a stock installer trusts no fleet key")
	// The disk's /etc/ssh starts empty; the install writes the machine's
	// key there (here a new one: ssh-keygen's).
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "ls -A /mnt/etc/ssh"), ""))
	sshRun(t, l, "srv1", "ssh-keygen -q -t ed25519 -N '' -C root@srv1 -f /mnt/etc/ssh/ssh_host_ed25519_key")
	diskKey := sshRun(t, l, "srv1", "cat /mnt/etc/ssh/ssh_host_ed25519_key.pub")
	assert.Check(t, diskKey != key)
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "cat /etc/ssh/ssh_host_ed25519_key.pub"), key), "the installer still presents the image's key")
	hs, err := l.Hosts()
	assert.NilError(t, err)
	assert.Equal(t, hs[0].Boot, lab.BootInstaller)
	assert.Equal(t, hs[0].Addr, h.Addr)

	// A system into the disk's store, and the disk's profile set, as the
	// install does; its activation leaves a mark in /run.
	sshRun(t, l, "srv1", `set -e; s=$(mktemp -d); mkdir "$s/sys"; printf '#!/bin/sh\necho booted > /run/booted\n' > "$s/sys/activate"; chmod +x "$s/sys/activate"
p=$(nix-store --store /mnt --add "$s/sys"); nix-env --store /mnt -p /mnt/nix/var/nix/profiles/system --set "$p"; echo "$p" > /mnt/var/lib/vanixiets/sys`)
	sys, err := os.ReadFile(filepath.Join(h.StateDir, "sys"))
	assert.NilError(t, err)
	p := strings.TrimSpace(string(sys))
	code, _ := sshCode(t, l, "srv1", "test -e "+p)
	assert.Check(t, code != 0, "the path went to the disk's store, not to the installer's own")
	_, err = os.Stat(filepath.Join(h.StoreDir, strings.TrimPrefix(p, "/nix/")))
	assert.NilError(t, err, "the path is on the disk, the host's store")

	// A kill of the installer's sshd (a crash): lab:up (here the cloud's
	// create) brings it back as the installer, not as the image.
	st, err := l.Status(ctx)
	assert.NilError(t, err)
	syscall.Kill(st[0].PID, syscall.SIGKILL)
	time.Sleep(50 * time.Millisecond)
	_, err = l.CreateBareHost(ctx, "srv1", nil)
	assert.NilError(t, err)
	sshRun(t, l, "srv1", "test -e /etc/is_kexec")

	// The reboot: an ordinary lab host on its disk, activated at boot.
	assert.NilError(t, l.Reboot(ctx, "srv1"))
	code, _ = sshCode(t, l, "srv1", "test -e /etc/is_kexec")
	assert.Check(t, code != 0)
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "cat /run/booted"), "booted\n"))
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "nix-store --check-validity "+p+" && readlink -f /nix/var/nix/profiles/system"), p+"\n"))
	assert.Check(t, is.Contains(sshRun(t, l, "srv1", "cat /etc/nix/nix.conf"), "trusted-public-keys"))
	// It presents the disk's key now (sshRun checks it strictly against
	// the lab's known_hosts, which followed), and keeps it at a reboot.
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "cat /etc/ssh/ssh_host_ed25519_key.pub"), diskKey))
	hs, err = l.Hosts()
	assert.NilError(t, err)
	assert.Equal(t, hs[0].Boot, lab.BootInstalled)
	assert.Equal(t, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hs[0].HostKey)))+" root@srv1", strings.TrimSpace(diskKey))
	assert.NilError(t, l.Reboot(ctx, "srv1"))
	assert.Check(t, is.Equal(sshRun(t, l, "srv1", "cat /etc/ssh/ssh_host_ed25519_key.pub"), diskKey))

	assert.NilError(t, l.Down(ctx))
	assertRestored(t, before, l)
}

// TestBareHostRefusals: a disk with no system does not boot, and only a
// bare-image host has an installer; a lab host created earlier stays a
// lab host with Nix when a cloud "creates" it.
func TestBareHostRefusals(t *testing.T) {
	t.Parallel()
	l, _ := labtest.Up(t, lab.Config{}, "cinnabar")
	h2, err := l.CreateBareHost(ctx, "srv2", nil)
	assert.NilError(t, err)
	assert.NilError(t, l.Kexec(ctx, "srv2"))

	// A kexec killed after it recorded the installer boot, before it laid
	// out the disk (no disk-etc-ssh yet), then the sshd gone with it: the
	// next start finishes the boot (CI's fresh machine once killed there).
	assert.NilError(t, os.RemoveAll(filepath.Join(filepath.Dir(h2.StateDir), "disk-etc-ssh")))
	st, err := l.Status(ctx)
	assert.NilError(t, err)
	for _, s := range st {
		if s.Name == "srv2" {
			syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
	time.Sleep(50 * time.Millisecond)
	_, err = l.CreateBareHost(ctx, "srv2", nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(sshRun(t, l, "srv2", "test -e /etc/is_kexec && ls -A /mnt/etc/ssh"), ""))

	err = l.Reboot(ctx, "srv2")
	assert.ErrorContains(t, err, "would not boot")

	err = l.Kexec(ctx, "cinnabar")
	assert.ErrorContains(t, err, "not created from a bare image")
	err = l.Kexec(ctx, "nosuch")
	assert.ErrorContains(t, err, "no host nosuch")

	h, err := l.CreateBareHost(ctx, "cinnabar", nil)
	assert.NilError(t, err)
	assert.Equal(t, h.Boot, "")
	assert.Check(t, is.Contains(sshRun(t, l, "cinnabar", "nix-store --version"), "2."))
}
