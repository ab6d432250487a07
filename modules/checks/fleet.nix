# checks.<system>.*, run by `nix flake check` (and the suite's check:flake)
# where the network is available:
#   fleet-json  the fleet output renders to JSON (the suite's contract)
#   registry    every machine of the inventory is in the clan registry and
#               every registered machine is in the inventory
#   terraform   config.tf.json renders (x86_64-linux only)
#   <m>         the system closure of every NixOS machine of that system
# Darwin closures need a darwin builder and are built by deploy:machine on
# the laptops themselves, not here.
{ config, lib, ... }:
let
  fleet = config.flake.fleet;
  registered = builtins.attrNames config.clan.machines;
  inventoried = builtins.attrNames fleet.machines;
  registryProblems =
    map (m: "machine ${m} is in the inventory but not in modules/clan/machines.nix") (
      lib.subtractLists registered inventoried
    )
    ++ map (m: "machine ${m} is registered but not in modules/_fleet/machines.nix") (
      lib.subtractLists inventoried registered
    );
  nixosOf =
    system:
    lib.filter (m: fleet.machines.${m}.machineClass == "nixos" && fleet.machines.${m}.system == system) inventoried;
in
{
  perSystem =
    { pkgs, system, self', ... }:
    {
      checks =
        {
          fleet-json = pkgs.writeText "fleet.json" (builtins.toJSON fleet);
          registry = pkgs.runCommand "registry" { } (
            if registryProblems == [ ] then
              "touch $out"
            else
              "echo ${lib.escapeShellArg (lib.concatStringsSep "\n" registryProblems)} >&2; exit 1"
          );
        }
        // lib.optionalAttrs (system == "x86_64-linux") { terraform = self'.packages.terraform; }
        // lib.genAttrs (nixosOf system) (
          m: config.flake.nixosConfigurations.${m}.config.system.build.toplevel
        );
    };
}
