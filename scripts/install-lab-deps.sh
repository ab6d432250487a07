#!/usr/bin/env bash
# Installs what the lab (tasks/lab, go tool mage lab:up) needs on Debian 12:
# iproute2 (ip netns, veth), openssh-server (each host's sshd, run as a plain
# process, never as a service), openssh-client (lab:ssh, deployers),
# util-linux (unshare, nsenter, setpriv), nix-bin (/usr/bin/nix, which each
# host runs against its private /nix), sudo (a deployer that is not root
# deploying the machine it runs on escalates with sudo -n: the local deploy's
# end-to-end test runs it inside a lab host) and posh (the strict POSIX shell a
# darwin-class lab host runs as /bin/sh, and the host scripts' unit tests
# parse with). Idempotent: installs only what is missing,
# and blocks every service start during the install with a temporary
# /usr/sbin/policy-rc.d (exit 101), so no system sshd starts on the machine.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-lab-deps: must run as root (apt-get install)" >&2
	exit 1
fi

declare -A need=(
	[ip]=iproute2
	[sshd]=openssh-server
	[ssh]=openssh-client
	[unshare]=util-linux
	[nsenter]=util-linux
	[nix]=nix-bin
	[nix-store]=nix-bin
	[sudo]=sudo
	[posh]=posh
)
pkgs=()
for cmd in "${!need[@]}"; do
	if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
		pkgs+=("${need[$cmd]}")
	fi
done
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "install-lab-deps: iproute2, openssh-server, openssh-client, util-linux, nix-bin, sudo, posh already present"
	exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-lab-deps: missing packages ${pkgs[*]} and no apt-get; install them by hand" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
	saved="$(mktemp)"
	cp -p "$policy" "$saved"
fi
restore() {
	if [ -n "$saved" ]; then
		mv -f "$saved" "$policy"
	else
		rm -f "$policy"
	fi
}
trap restore EXIT
printf '#!/bin/sh\n# vanixiets install-lab-deps: no service starts during install\nexit 101\n' >"$policy"
chmod 0755 "$policy"

echo "install-lab-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${pkgs[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${pkgs[@]}" || {
		echo "install-lab-deps: apt-get could not install ${pkgs[*]}" >&2
		exit 1
	}
fi

# The package we just installed enabled the system sshd for the next boot;
# the lab never uses it. (A machine's existing sshd is never touched.)
if [[ " ${pkgs[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
fi
echo "install-lab-deps: done"
