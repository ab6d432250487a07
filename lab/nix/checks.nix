# Real checks of the lab fleet, run by `nix flake check`:
#   fleet       the inventory's invariants (one zerotier controller, roles and
#               users name declared machines, classes match systems, cloud
#               machines carry provider data, generator dependencies exist)
#   toplevels   every machine's closure builds and carries its activation entry
#   terraform   the rendered terraform holds exactly the enabled cloud machines
# A failing check's builder prints every problem and exits 1.
{ fleet, lib, system, terraform }:
let
  inherit (builtins) attrNames filter concatMap length elem concatStringsSep toJSON match;

  ms = fleet.machines;
  names = attrNames ms;

  problems =
    let
      ctl = lib.machinesOf "zerotier" "controller";
      roleRefs = concatMap
        (i: concatMap
          (r: map (m: { inherit i r m; }) (attrNames fleet.instances.${i}.roles.${r}.machines))
          (attrNames fleet.instances.${i}.roles))
        (attrNames fleet.instances);
    in
    (if length ctl != 1 then [ "zerotier: want exactly one controller, have ${toString (length ctl)}: ${toJSON ctl}" ] else [ ])
    ++ map (x: "instance ${x.i} role ${x.r}: unknown machine ${x.m}") (filter (x: !(ms ? ${x.m})) roleRefs)
    ++ concatMap
      (m:
        let v = ms.${m}; in
        (if v.machineClass == "darwin" && match ".*-darwin" v.system == null then [ "machine ${m}: darwin machine with system ${v.system}" ] else [ ])
        ++ (if v.machineClass == "nixos" && match ".*-linux" v.system == null then [ "machine ${m}: nixos machine with system ${v.system}" ] else [ ])
        ++ (if v.cloud != null && !(elem (v.cloud.provider or "") [ "hetzner" "gcp" ]) then [ "machine ${m}: cloud machine without a known provider" ] else [ ])
        ++ concatMap
          (g: map (d: "machine ${m} generator ${g}: unknown dependency ${d}")
            (filter (d: !(v.generators ? ${d})) v.generators.${g}.dependencies))
          (attrNames v.generators))
      names
    ++ concatMap
      (a: map (m: "user ${a.user}: missing machine ${m}") (filter (m: !(ms ? ${m})) a.machines))
      lib.assignments;

  mkCheck = name: script: env:
    derivation ({
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" script ];
      PATH = "/usr/bin:/bin";
    } // env);

  expectedTf = filter (m: ms.${m}.cloud != null && ms.${m}.cloud.enabled) names;
  renderedTf =
    attrNames (terraform.resource.hcloud_server or { })
    ++ attrNames (terraform.resource.google_compute_instance or { });
in
{
  fleet = mkCheck "vanixiets-lab-check-fleet" ''
    if [ -n "$problems" ]; then printf '%s\n' "$problems" >&2; exit 1; fi
    echo "$count machines ok" > "$out"
  '' {
    problems = concatStringsSep "\n" problems;
    count = toString (length names);
  };

  toplevels = mkCheck "vanixiets-lab-check-toplevels" ''
    set -eu
    for t in $nixos; do
      [ -x "$t/bin/switch-to-configuration" ] || { echo "$t: no bin/switch-to-configuration" >&2; exit 1; }
      [ -s "$t/etc/machine.json" ] || { echo "$t: no etc/machine.json" >&2; exit 1; }
    done
    for t in $darwin; do
      [ -x "$t/activate" ] || { echo "$t: no activate" >&2; exit 1; }
      [ -s "$t/etc/machine.json" ] || { echo "$t: no etc/machine.json" >&2; exit 1; }
    done
    echo ok > "$out"
  '' {
    nixos = map system.toplevel (lib.byClass "nixos");
    darwin = map system.toplevel (lib.byClass "darwin");
  };

  terraform = mkCheck "vanixiets-lab-check-terraform" ''
    if [ "$expected" != "$rendered" ]; then
      echo "terraform renders [$rendered], want the enabled cloud machines [$expected]" >&2; exit 1
    fi
    echo ok > "$out"
  '' {
    expected = toString (builtins.sort builtins.lessThan expectedTf);
    rendered = toString (builtins.sort builtins.lessThan renderedTf);
  };
}
