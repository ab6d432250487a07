# Home environments on NixOS machines. The accounts themselves come from the
# clan users service (modules/clan/inventory/services/user-*.nix); this adds
# home-manager for the same users, found in the fleet output rather than in
# a second list: fleetLib.usersOf <host> (role machines plus tags).
{ config, inputs, ... }:
let
  inherit (config) fleetLib;
  hm = config.flake.modules.homeManager;
in
{
  flake.modules.nixos.users =
    { config, lib, ... }:
    {
      imports = [ inputs.home-manager.nixosModules.home-manager ];
      home-manager = {
        useGlobalPkgs = true;
        useUserPackages = true;
        users = lib.genAttrs (fleetLib.usersOf config.networking.hostName) (user: {
          imports = [
            hm."users/${user}"
            hm.core
            hm.ai
          ];
        });
      };
    };
}
