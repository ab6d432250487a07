#!/usr/bin/env bash
# install-terraform.sh: install terraform and the hcloud provider for vanixiets.
#
# What it leaves behind, under ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools:
#   bin/terraform                       (a link to /usr/local/bin/terraform when that exists,
#                                        else built with `go install` from v1.5.7: 2-4 min)
#   terraform-mirror/registry.terraform.io/hetznercloud/hcloud/<ver>/linux_amd64/terraform-provider-hcloud_v<ver>
#                                       (built from the provider's Go module source: about 1 min)
#   terraform.rc                        (CLI config: a filesystem_mirror for hetznercloud/* and
#                                        hashicorp/google, direct installation disabled for them)
#
# Point terraform at it with TF_CLI_CONFIG_FILE=<tools>/terraform.rc; tasks/terraform does so itself.
# Idempotent: a second run finds every file in place and does nothing.
# The Google provider is built by install-google-provider.sh (its own setup part: the longest build).
set -euo pipefail

HCLOUD_VERSION="${HCLOUD_VERSION:-1.60.1}"
TERRAFORM_VERSION="${TERRAFORM_VERSION:-1.5.7}"
TOOLS="${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
ARCH="linux_amd64"
case "$(uname -m)" in
  aarch64|arm64) ARCH="linux_arm64" ;;
esac

say() { printf 'install-terraform: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$GO" ] || die "go is missing: install Go 1.26 at /usr/local/go (needed to build terraform and the hcloud provider)"

mkdir -p "$TOOLS/bin"

# 1. terraform
if [ -x "$TOOLS/bin/terraform" ] && "$TOOLS/bin/terraform" version >/dev/null 2>&1; then
  :
elif [ -x /usr/local/bin/terraform ]; then
  ln -sf /usr/local/bin/terraform "$TOOLS/bin/terraform"
  say "using /usr/local/bin/terraform"
else
  say "building terraform v$TERRAFORM_VERSION with go install (takes 2-4 minutes)"
  GOBIN="$TOOLS/bin" GOFLAGS=-mod=mod "$GO" install -ldflags="-s -w" "github.com/hashicorp/terraform@v$TERRAFORM_VERSION" \
    || die "go install github.com/hashicorp/terraform@v$TERRAFORM_VERSION failed: check GOPROXY reaches a module proxy"
fi

# 2. the hcloud provider, from module source, into a filesystem mirror
MIRROR="$TOOLS/terraform-mirror"
PDIR="$MIRROR/registry.terraform.io/hetznercloud/hcloud/$HCLOUD_VERSION/$ARCH"
PBIN="$PDIR/terraform-provider-hcloud_v$HCLOUD_VERSION"
if [ ! -x "$PBIN" ]; then
  say "building terraform-provider-hcloud v$HCLOUD_VERSION from module source (about 1 minute)"
  export GONOSUMDB="github.com/hetznercloud/terraform-provider-hcloud${GONOSUMDB:+,$GONOSUMDB}"
  export GOFLAGS=-mod=mod
  src="$(cd /tmp && "$GO" mod download -json "github.com/hetznercloud/terraform-provider-hcloud@v$HCLOUD_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] && [ -d "$src" ] || die "go mod download github.com/hetznercloud/terraform-provider-hcloud@v$HCLOUD_VERSION failed: check GOPROXY"
  work="$(mktemp -d)"
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  mkdir -p "$PDIR"
  (cd "$work/src" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags="-s -w" -o "$work/provider" .) \
    || die "building terraform-provider-hcloud failed (see the go output above)"
  mv "$work/provider" "$PBIN"
fi

# 3. the CLI config naming the mirror
RC="$TOOLS/terraform.rc"
want="provider_installation {
  filesystem_mirror {
    path    = \"$MIRROR\"
    include = [\"registry.terraform.io/hetznercloud/*\", \"registry.terraform.io/hashicorp/google\"]
  }
  direct {
    exclude = [\"registry.terraform.io/hetznercloud/*\", \"registry.terraform.io/hashicorp/google\"]
  }
}
"
if [ ! -f "$RC" ] || [ "$(cat "$RC")" != "$(printf '%s' "$want")" ]; then
  printf '%s' "$want" > "$RC.tmp" && mv "$RC.tmp" "$RC"
fi

say "ready: terraform $("$TOOLS/bin/terraform" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p'), hcloud $HCLOUD_VERSION; TF_CLI_CONFIG_FILE=$RC"
