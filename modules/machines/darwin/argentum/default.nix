# argentum: nix-darwin laptop of christophersmith.
#
# Exported as flake.modules.darwin."machines/darwin/argentum" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its users from the inventory (modules/darwin/users.nix), its secrets from
# the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).argentum;
  inherit (config.flake.modules) darwin;
in
{
  flake.modules.darwin."machines/darwin/argentum" = {
    imports = [
      darwin.base
      darwin.users
      darwin.vars
    ];
    networking.hostName = "argentum";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = 6;
  };
}
