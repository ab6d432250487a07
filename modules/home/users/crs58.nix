# crs58: global admin on stibnite and blackphos. The home identity of the user, wherever the inventory
# gives them an account (modules/clan/inventory/services/user-crs58.nix); the
# machine modules add the shared aggregates (core, ai) next to it.
{
  flake.modules.homeManager."users/crs58" =
    { lib, pkgs, ... }:
    {
      home.username = "crs58";
      home.homeDirectory = lib.mkDefault (
        if pkgs.stdenv.hostPlatform.isDarwin then "/Users/crs58" else "/home/crs58"
      );
      home.stateVersion = "25.05";
      programs.git.userName = lib.mkDefault "crs58";
    };
}
