#!/usr/bin/env bash
# Installs what vars generation and its tests need on Debian 12: age (the
# interoperability test decrypts the suite's secrets with Debian's age),
# openssh-client (ssh-keygen, used by the openssh generator scripts) and
# coreutils (od, head, tr in the lab's scripts). Idempotent: installs only
# what is missing, with a temporary /usr/sbin/policy-rc.d (exit 101) so no
# service starts during the install.
set -euo pipefail

declare -A need=([age]=age [age-keygen]=age [ssh-keygen]=openssh-client [od]=coreutils)
pkgs=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || pkgs+=("${need[$cmd]}")
done
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "install-vars-deps: age, openssh-client, coreutils already present"
	exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
	echo "install-vars-deps: missing ${pkgs[*]}; run as root (apt-get install)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-vars-deps: missing packages ${pkgs[*]} and no apt-get; install them by hand" >&2
	exit 1
fi
cleanup_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	cleanup_policy=1
fi
trap 'if [ "$cleanup_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${pkgs[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${pkgs[@]}" || {
		echo "install-vars-deps: apt-get could not install ${pkgs[*]} (no network or mirror?)" >&2
		exit 1
	}
fi
echo "install-vars-deps: installed ${pkgs[*]}"
