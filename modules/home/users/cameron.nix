# cameron: admin alias on the newer machines (servers, argentum, rosegold). The home identity of the user, wherever the inventory
# gives them an account (modules/clan/inventory/services/user-cameron.nix); the
# machine modules add the shared aggregates (core, ai) next to it.
{
  flake.modules.homeManager."users/cameron" =
    { lib, pkgs, ... }:
    {
      home.username = "cameron";
      home.homeDirectory = lib.mkDefault (
        if pkgs.stdenv.hostPlatform.isDarwin then "/Users/cameron" else "/home/cameron"
      );
      home.stateVersion = "25.05";
      programs.git.userName = lib.mkDefault "cameron";
    };
}
