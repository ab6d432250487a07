# clan.inventory.machines, derived from the plain data in
# modules/_fleet/machines.nix (the same file the lab flake imports): class,
# tags, description and deploy target of every machine. Tags are what the
# inventory's roles match (user-cameron reaches the servers through the
# "server" tag).
{ lib, ... }:
let
  machines = import ../../_fleet/machines.nix;
in
{
  clan.inventory.machines = lib.mapAttrs (_name: m: {
    inherit (m) machineClass tags description;
    deploy.targetHost = m.deploy.targetHost;
  }) machines;
}
