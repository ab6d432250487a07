package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Darwin-class hosts: the fleet's Macs, as strict as one Linux machine
// can make them.
//
// The deployer runs its host-side scripts (activation and its agent,
// confirmation, rollback, secrets, status, the closure copy's command) on
// Macs too, where /bin/sh is bash 3.2 in POSIX mode, the utilities are
// BSD's and there is no util-linux and no /proc. A lab host of class
// "darwin" (Machine.Class, from the fleet's machineClass) takes away what
// a Mac lacks, so that a script using any of it fails there:
//
//   - /bin/sh is posh, a shell that refuses what POSIX does not define
//     (bound over /bin/sh in the host's mount namespace; /bin/sh is a link
//     to dash, so dash is posh there too), and root's login shell is
//     /bin/sh, as on a Mac;
//   - an SSH session's PATH (sshd's SetEnv) is one directory of links to
//     the utilities macOS has (macOSUtilities): no setsid, flock, timeout,
//     stat, realpath, getent, ...;
//   - Nix is not on that PATH: it is in /nix/var/nix/profiles/default/bin,
//     where the Nix installer puts it on a Mac (whose sshd gives root a
//     PATH without it), so the scripts must find it themselves
//     (hostsh.Prelude);
//   - /proc is an empty, read-only file system (on a host of Nix 2.8;
//     Nix 2.26, a Linux build, reads /proc/self/exe to start, so a 2.26
//     darwin-class host keeps /proc);
//   - /etc/group has admin (gid 80 on a Mac) besides wheel (gid 0), the
//     groups a darwin secret may name.
//
// What stays Linux's: the utilities behind the links are Debian's (GNU
// options work when called; hostsh.Lint is what refuses them in the
// scripts), the kernel, and the system itself (the lab's darwin toplevels
// are stand-ins built for x86_64-linux, activated by their own activate).
// docs/deploy.md says what only a real Mac proves.

// ClassDarwin is the machine class of nix-darwin machines.
const ClassDarwin = "darwin"

// macOSPath is, inside a darwin-class host, the directory its SSH
// sessions' PATH names (under the host's own /run).
const macOSPath = "/run/vanixiets-lab/macos/bin"

// macOSUtilities are the commands of a Mac's /usr/bin, /bin, /usr/sbin and
// /sbin that a darwin-class host's sessions get (those the machine has).
// Not here, because a Mac has none (or one with other options): setsid,
// flock, timeout, stat, realpath, getent, sha256sum, md5sum, tac, nproc,
// stdbuf, runuser, bash (a Mac's is 3.2, not the machine's).
var macOSUtilities = []string{
	"[", "awk", "basename", "cat", "chgrp", "chmod", "chown", "cksum", "cmp", "comm", "cp", "cut",
	"date", "dd", "diff", "dirname", "du", "echo", "env", "expr", "false", "find", "fold", "grep",
	"gzip", "head", "hostname", "id", "join", "kill", "ln", "logger", "ls", "mkdir", "mkfifo", "mktemp",
	"mv", "nice", "nohup", "od", "paste", "printf", "ps", "pwd", "readlink", "rm", "rmdir", "sed",
	"sleep", "sort", "split", "su", "sudo", "tail", "tar", "tee", "test", "touch", "tr", "true", "tty",
	"uname", "uniq", "wc", "which", "whoami", "xargs", "yes",
}

// poshPath is the strict POSIX shell bound over a darwin host's /bin/sh.
const poshPath = "/usr/bin/posh"

// isDarwin says whether the machine's host is of darwin class.
func (l *Lab) isDarwin(name string) bool { return l.machines[name].Class == ClassDarwin }

// classFor is the class recorded for a host ("" for nixos and hosts that
// are no fleet machine).
func (l *Lab) classFor(name string) string {
	if l.isDarwin(name) {
		return ClassDarwin
	}
	return ""
}

// darwinPreflight fails when darwin-class hosts are asked for and the
// machine lacks posh.
func (l *Lab) darwinPreflight(names []string) error {
	for _, n := range names {
		if !l.isDarwin(n) {
			continue
		}
		if _, err := os.Stat(poshPath); err != nil {
			return fmt.Errorf("lab: missing %s (darwin-class hosts run it as /bin/sh); run scripts/install-lab-deps.sh", poshPath)
		}
		return nil
	}
	return nil
}

// darwinGroups is a darwin host's /etc/group: the lab's, plus admin (gid
// 80, a Mac's administrators) when missing.
func darwinGroups(groups []byte) []byte {
	for _, line := range strings.Split(string(groups), "\n") {
		if strings.HasPrefix(line, "admin:") {
			return groups
		}
	}
	if len(groups) > 0 && groups[len(groups)-1] != '\n' {
		groups = append(groups, '\n')
	}
	return append(groups, "admin:x:80:root\n"...)
}

// darwinPasswd is a darwin host's /etc/passwd: root's (and so its
// aliases') login shell is /bin/sh, as on a Mac, so sshd runs every
// command through posh.
func darwinPasswd(passwd []byte) []byte {
	lines := strings.Split(strings.TrimRight(string(passwd), "\n"), "\n")
	for i, line := range lines {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] == "0" {
			f[6] = "/bin/sh"
			lines[i] = strings.Join(f, ":")
		}
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// darwinSSHDConfig is what a darwin host's sshd_config adds: the sessions'
// PATH.
func darwinSSHDConfig() string { return "SetEnv PATH=" + macOSPath + "\n" }

// writeDarwinFiles lays out, in the host directory, the sessions' PATH
// directory (under run/, seen as /run) and the Nix installer's default
// profile with the machine's Nix commands (under the store directory,
// seen as /nix). Both are made anew, so a change of the lists reaches a
// rebuilt host.
func writeDarwinFiles(dir, store string) error {
	bin := filepath.Join(dir, "run", strings.TrimPrefix(macOSPath, "/run/"))
	if err := os.RemoveAll(bin); err != nil {
		return err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, u := range macOSUtilities {
		p, err := exec.LookPath(u)
		if err != nil {
			continue // a utility the machine lacks is one the scripts cannot use either
		}
		if err := os.Symlink(p, filepath.Join(bin, u)); err != nil {
			return err
		}
	}
	if err := os.Symlink(poshPath, filepath.Join(bin, "sh")); err != nil {
		return err
	}
	nixBin := filepath.Join(dir, store, "var", "nix", "profiles", "default", "bin")
	if err := os.RemoveAll(filepath.Dir(nixBin)); err != nil {
		return err
	}
	if err := os.MkdirAll(nixBin, 0o755); err != nil {
		return err
	}
	for _, c := range nixCommands() {
		if err := os.Symlink(c, filepath.Join(nixBin, filepath.Base(c))); err != nil {
			return err
		}
	}
	return nil
}

// nixCommands are the machine's Nix commands (/usr/bin/nix and its nix-*
// links), which a darwin host finds only in its default profile.
func nixCommands() []string {
	var out []string
	for _, pat := range []string{"/usr/bin/nix", "/usr/bin/nix-*"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// hostPasswdOf is the /etc/passwd of machine name's host (hostPasswd;
// darwinPasswd for a darwin host).
func (l *Lab) hostPasswdOf(name, target string) ([]byte, error) {
	b, err := hostPasswd(target)
	if err != nil || !l.isDarwin(name) {
		return b, err
	}
	return darwinPasswd(b), nil
}

// sshdExtra is what r's sshd_config adds to the lab's: the config's own
// extra, and a darwin host's PATH.
func (l *Lab) sshdExtra(r hostRecord) string {
	if r.Class == ClassDarwin {
		return darwinSSHDConfig() + l.cfg.SSHDConfigExtra
	}
	return l.cfg.SSHDConfigExtra
}
