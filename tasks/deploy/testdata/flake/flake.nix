# Test fleet for tasks/deploy's end-to-end tests. params.nix (written by the
# test before each deployment) picks the generation and how its activation
# behaves:
#   version  a string baked into every toplevel (a new version = a new generation)
#   mode     "ok" | "fail" (activation exits 1 before switching)
#            | "break-ssh" (activation removes root's authorized_keys, so no new
#              ssh connection can confirm; a later "ok" activation restores it)
#            | "slow" (activation sleeps 3 s first: time to SIGKILL the deployer)
#   bigMB    size of an extra incompressible blob in the closure (0: none)
#   health   the machines' deploy.healthChecks
#   target   a machine name -> deploy.targetHost override (unreachable hosts)
#   broken   machine names whose toplevel does not evaluate (a throw)
#   unbuildable  machine names whose toplevel's builder fails
# gamma (darwin) has an activate-user, as nix-darwin had before 25.05 (it
# logs "activate-user <toplevel>" to activations.log before activate's line).
#   buildOn  a machine name -> deploy.buildOn ("local" | "target")
#   platform a machine name -> the platform its toplevel derivation is built
#            for (default x86_64-linux; "aarch64-darwin" stands for a Mac)
{
  outputs = { self }:
    let
      p = { version = "1"; mode = "ok"; bigMB = 0; health = [ "test -e /run/current-system" ]; targets = { }; broken = [ ]; unbuildable = [ ]; buildOn = { }; platform = { }; } // import ./params.nix;
      names = [ "alpha" "beta" "gamma" ];
      classOf = n: if n == "gamma" then "darwin" else "nixos";
      mkDrv = name: script: env: derivation ({
        inherit name;
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" script ];
        PATH = "/usr/bin:/bin";
      } // env);
      big = mkDrv "deploy-test-blob-${toString p.bigMB}" ''
        mkdir -p $out
        head -c ${toString p.bigMB}M /dev/urandom > $out/blob
      '' { };
      shared = mkDrv "deploy-test-shared" ''
        mkdir -p $out/bin
        printf '#!/bin/sh\necho shared\n' > $out/bin/hello
        chmod 0555 $out/bin/hello
      '' { };
      activation = name: ''
        set -eu
        action=$1 top=$2
        case "$action" in dry-activate) echo "would switch to $top"; exit 0 ;; esac
        case "$action" in activate-user)
          printf '%s %s %s\n' "$(date -u +%FT%TZ)" activate-user "$top" >> /var/lib/vanixiets/activations.log; exit 0 ;;
        esac
        mode=$(cat "$top/mode")
        if [ "$mode" = slow ]; then sleep 3; fi
        if [ "$mode" = fail ]; then echo "activation of $top fails on purpose" >&2; exit 1; fi
        if [ "$mode" = break-ssh ]; then
          if [ -f /root/.ssh/authorized_keys ]; then mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.broken; fi
        elif [ -f /root/.ssh/authorized_keys.broken ]; then
          mv /root/.ssh/authorized_keys.broken /root/.ssh/authorized_keys
        fi
        mkdir -p /var/lib/vanixiets /run
        case "$action" in switch|test|activate)
          ln -sfn "$top" /run/.cs.new && mv -T /run/.cs.new /run/current-system ;;
        esac
        printf '%s %s %s\n' "$(date -u +%FT%TZ)" "$action" "$top" >> /var/lib/vanixiets/activations.log
      '';
      toplevel = name: mkDrv "${classOf name}-system-${name}-test" ''
        mkdir -p $out/bin
        ln -s ${shared} $out/sw
        ${if p.bigMB > 0 then "ln -s ${big} $out/big" else ""}
        printf '%s\n' "$version" > $out/version
        printf '%s\n' "$mode" > $out/mode
        printf '%s' "$activation" > $out/bin/.activate-impl
        printf '#!/bin/sh\nexec /bin/sh %s/bin/.activate-impl "$1" %s\n' "$out" "$out" > $out/bin/switch-to-configuration
        printf '#!/bin/sh\nexec /bin/sh %s/bin/.activate-impl activate %s\n' "$out" "$out" > $out/activate
        ${if classOf name == "darwin" then "printf '#!/bin/sh\\nexec /bin/sh %s/bin/.activate-impl activate-user %s\\n' \"$out\" \"$out\" > $out/activate-user; chmod 0555 $out/activate-user" else ""}
        chmod 0555 $out/bin/switch-to-configuration $out/activate
      '' ({ inherit (p) version mode; activation = activation name; }
        // (if p.platform ? ${name} then { system = p.platform.${name}; } else { }));
      machine = name: {
        machineClass = classOf name;
        system = if classOf name == "darwin" then "aarch64-darwin" else "x86_64-linux";
        tags = [ "test" ] ++ (if name == "alpha" then [ "first" ] else [ ]);
        description = "deploy test machine ${name}";
        deploy = { targetHost = p.targets.${name} or "root@${name}"; healthChecks = p.health; }
          // (if p.buildOn ? ${name} then { buildOn = p.buildOn.${name}; } else { });
        cloud = null;
        generators = { };
      };
      evalTop = n:
        if builtins.elem n p.broken then throw "machine ${n} is broken on purpose"
        else if builtins.elem n p.unbuildable then mkDrv "nixos-system-${n}-unbuildable-${p.version}" "echo 'building ${n} fails on purpose' >&2; exit 1" { }
        else toplevel n;
      genAttrs = ns: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) ns);
    in
    {
      fleet = { machines = genAttrs names machine; instances = { }; users = { }; };
      nixosConfigurations = genAttrs [ "alpha" "beta" ] (n: { config.system.build.toplevel = evalTop n; });
      darwinConfigurations = genAttrs [ "gamma" ] (n: { system = toplevel n; });
    };
}
