# The clan machine registry: the authoritative list of the fleet's members.
#
# Each entry imports the machine's module from its namespace; the module
# itself lives in modules/machines/<class>/<host>/default.nix and exports
# flake.modules.<class>."machines/<class>/<host>". Two steps on purpose:
# import-tree discovers the machine module, and this file decides that the
# machine is part of the fleet. The registry is written out (not generated
# from modules/_fleet/machines.nix) so that adding a machine is a visible,
# reviewed line here; `go test ./tasks/realfleet` checks that it names every
# machine of modules/_fleet/machines.nix, with the namespace of its class,
# and nothing else.
{ config, ... }:
let
  inherit (config.flake.modules) nixos darwin;
in
{
  clan.machines = {
    # NixOS servers
    cinnabar.imports = [ nixos."machines/nixos/cinnabar" ];
    electrum.imports = [ nixos."machines/nixos/electrum" ];
    galena.imports = [ nixos."machines/nixos/galena" ];
    scheelite.imports = [ nixos."machines/nixos/scheelite" ];

    # nix-darwin laptops
    stibnite.imports = [ darwin."machines/darwin/stibnite" ];
    blackphos.imports = [ darwin."machines/darwin/blackphos" ];
    argentum.imports = [ darwin."machines/darwin/argentum" ];
    rosegold.imports = [ darwin."machines/darwin/rosegold" ];
  };
}
