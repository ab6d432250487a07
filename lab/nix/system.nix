# The lab's stand-in system closures. Each machine's toplevel is a small
# derivation built with /bin/sh and the host's coreutils (the lab builds with
# sandbox = false; PATH is set to /usr/bin:/bin), referencing:
#   - vanixiets-lab-base: the activation recorder shared by every machine,
#   - vanixiets-lab-sw-<class>-<swVersion>: a per-class "software" package
#     with a version (a closure diff shows it changed when swVersion moves),
#   - vanixiets-lab-etc-<machine>: the machine's own etc (hostname, record,
#     users, roles) and, on NixOS machines, its systemd units under
#     etc/systemd/system: vanixiets-hello.service (runs the sw package, so
#     it changes with it) and one <instance>-<role>.service per inventory
#     role the machine holds,
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
# dry-activate writes nothing and prints, on stderr as NixOS's
# switch-to-configuration does and in its words, what a switch would do to
# the units: "would stop the following units: a.service, b.service" for
# units the running system has and the new one lacks, "would restart ..."
# for units in both whose files differ, "would start ..." for new units,
# around "would activate the configuration...".
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
      new="$top/etc/systemd/system"
      old=
      if [ -n "$cur" ] && [ -d "$cur/etc/systemd/system" ]; then old="$cur/etc/systemd/system"; fi
      stop= restart= start=
      if [ -n "$old" ]; then
        for f in "$old"/*; do
          [ -e "$f" ] || continue
          u=''${f##*/}
          [ -e "$new/$u" ] || stop="$stop''${stop:+, }$u"
        done
      fi
      if [ -d "$new" ]; then
        for f in "$new"/*; do
          [ -e "$f" ] || continue
          u=''${f##*/}
          if [ -z "$old" ] || [ ! -e "$old/$u" ]; then
            start="$start''${start:+, }$u"
          elif [ "$(cat "$f")" != "$(cat "$old/$u")" ]; then
            restart="$restart''${restart:+, }$u"
          fi
        done
      fi
      if [ -n "$stop" ]; then echo "would stop the following units: $stop" >&2; fi
      echo "would activate the configuration..." >&2
      echo "would activate $top (current: ''${cur:-none})"
      if [ -n "$restart" ]; then echo "would restart the following units: $restart" >&2; fi
      if [ -n "$start" ]; then echo "would start the following units: $start" >&2; fi
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

  # The lab's one versioned package: bump it (in a copy of the lab) to see
  # a deployment's closure diff and unit restarts.
  swVersion = "1.0";

  sw = class: mkDrv "vanixiets-lab-sw-${class}-${swVersion}" ''
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
      if [ "$class" = nixos ]; then
        units="$out/etc/systemd/system"
        mkdir -p "$units"
        printf '[Unit]\nDescription=vanixiets lab hello\n\n[Service]\nExecStart=%s/bin/vanixiets-hello\n' "$sw" > "$units/vanixiets-hello.service"
        for u in $roleUnits; do
          printf '[Unit]\nDescription=vanixiets lab role %s\n\n[Service]\nExecStart=%s/bin/vanixiets-hello %s\n' "$u" "$sw" "$u" > "$units/$u.service"
        done
      fi
    '' {
      hostName = name;
      class = m.machineClass;
      sw = swByClass.${m.machineClass};
      roleUnits = concatStringsSep " " (map (r: builtins.replaceStrings [ "/" ] [ "-" ] r) (lib.rolesOf name));
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
