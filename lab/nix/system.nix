# The lab's stand-in system closures. Each machine's toplevel is a small
# derivation built with /bin/sh and the host's coreutils (the lab builds with
# sandbox = false; PATH is set to /usr/bin:/bin), referencing:
#   - vanixiets-lab-base: the activation recorder shared by every machine,
#   - vanixiets-lab-sw-<class>: a per-class "software" path,
#   - vanixiets-lab-etc-<machine>: the machine's own etc (hostname, record,
#     users, roles),
# so a closure is four store paths and two machines share two of them (a
# closure copy has something to skip and something to move).
#
# Every derivation uses system = "x86_64-linux", darwin stand-ins included:
# the lab builds and "activates" everything on the Linux host; the real
# machine's system is recorded in etc/machine.json.
#
# Activation writes the host's state ($VANIXIETS_ROOT, default "/", lets a
# test point it at a temporary directory):
#   /run/current-system            -> the toplevel (switch, test, activate)
#   /var/lib/vanixiets/generation  the current generation number (switch, boot, activate)
#   /var/lib/vanixiets/generations/<n> -> the toplevel of generation n
#   /var/lib/vanixiets/activations.log  "<UTC date> <action> <toplevel>" per activation
# dry-activate prints what it would do and writes nothing.
{ fleet, lib }:
let
  inherit (builtins) toJSON concatStringsSep;

  mkDrv = name: script: env:
    derivation ({
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" script ];
      PATH = "/usr/bin:/bin";
    } // env);

  recorder = ''
    #!/bin/sh
    # vanixiets-activate ACTION TOPLEVEL: record an activation in the host state.
    set -eu
    action=''${1:-}
    top=''${2:-}
    root=''${VANIXIETS_ROOT:-}
    state="$root/var/lib/vanixiets"
    case "$action" in
      switch|boot|test|dry-activate|activate) ;;
      *) echo "usage: switch-to-configuration switch|boot|test|dry-activate (got '$action')" >&2; exit 1 ;;
    esac
    if [ ! -d "$top" ]; then echo "vanixiets-activate: toplevel $top is not in the store" >&2; exit 1; fi
    if [ "$action" = dry-activate ]; then
      cur=$(readlink "$root/run/current-system" 2>/dev/null || true)
      echo "would activate $top (current: ''${cur:-none})"
      exit 0
    fi
    mkdir -p "$state/generations" "$root/run"
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    case "$action" in
      switch|boot|activate)
        gen=0
        if [ -f "$state/generation" ]; then gen=$(cat "$state/generation"); fi
        cur=$(readlink "$state/generations/$gen" 2>/dev/null || true)
        if [ "$cur" != "$top" ]; then
          gen=$((gen + 1))
          ln -sfn "$top" "$state/generations/.new"
          mv -T "$state/generations/.new" "$state/generations/$gen"
        fi
        printf '%s\n' "$gen" > "$state/.generation.new"
        mv -f "$state/.generation.new" "$state/generation"
        ;;
    esac
    case "$action" in
      switch|test|activate)
        ln -sfn "$top" "$root/run/.current-system.new"
        mv -T "$root/run/.current-system.new" "$root/run/current-system"
        ;;
    esac
    printf '%s %s %s\n' "$now" "$action" "$top" >> "$state/activations.log"
    echo "$action: $top"
  '';

  base = mkDrv "vanixiets-lab-base" ''
    set -eu
    mkdir -p "$out/bin"
    printf '%s' "$recorder" > "$out/bin/vanixiets-activate"
    chmod 0555 "$out/bin/vanixiets-activate"
  '' { inherit recorder; };

  sw = class: mkDrv "vanixiets-lab-sw-${class}" ''
    set -eu
    mkdir -p "$out/bin" "$out/share/vanixiets"
    printf '#!/bin/sh\necho "vanixiets lab %s system"\n' "$class" > "$out/bin/vanixiets-hello"
    chmod 0555 "$out/bin/vanixiets-hello"
    ln -s "$base/bin/vanixiets-activate" "$out/bin/vanixiets-activate"
    printf '%s\n' "$class" > "$out/share/vanixiets/class"
  '' { inherit class base; };

  swByClass = { nixos = sw "nixos"; darwin = sw "darwin"; };

  etc = name:
    let m = fleet.machines.${name}; in
    mkDrv "vanixiets-lab-etc-${name}" ''
      set -eu
      mkdir -p "$out/etc"
      printf '%s\n' "$hostName" > "$out/etc/hostname"
      printf '%s' "$machineJSON" > "$out/etc/machine.json"
      printf '%s\n' $users > "$out/etc/users"
      printf '%s\n' $admins > "$out/etc/admins"
      printf '%s\n' $roles > "$out/etc/roles"
    '' {
      hostName = name;
      machineJSON = toJSON (m // { name = name; generators = builtins.attrNames m.generators; });
      users = concatStringsSep " " (lib.usersOf name);
      admins = concatStringsSep " " (lib.adminsOf name);
      roles = concatStringsSep " " (lib.rolesOf name);
    };

  toplevel = name:
    let
      m = fleet.machines.${name};
      class = m.machineClass;
    in
    mkDrv "${class}-system-${name}-lab" ''
      set -eu
      mkdir -p "$out/bin"
      ln -s "$etc/etc" "$out/etc"
      ln -s "$sw" "$out/sw"
      printf '%s\n' "$hostName" > "$out/hostname"
      printf '%s\n' "$machineSystem" > "$out/system"
      printf '%s\n' "$version" > "$out/$class-version"
      if [ "$class" = darwin ]; then
        # nix-darwin: darwin-rebuild runs <toplevel>/activate
        printf '#!/bin/sh\nexec %s/bin/vanixiets-activate activate %s\n' "$base" "$out" > "$out/activate"
      else
        # NixOS: switch-to-configuration switch|boot|test|dry-activate
        printf '#!/bin/sh\nexec %s/bin/vanixiets-activate "$1" %s\n' "$base" "$out" > "$out/bin/switch-to-configuration"
        chmod 0555 "$out/bin/switch-to-configuration"
        printf '#!/bin/sh\nexec %s/bin/vanixiets-activate switch %s\n' "$base" "$out" > "$out/activate"
      fi
      chmod 0555 "$out/activate"
    '' {
      inherit base class;
      hostName = name;
      etc = etc name;
      sw = swByClass.${class};
      machineSystem = m.system;
      version = "lab-1";
    };
in
{
  inherit base swByClass etc toplevel;
}
