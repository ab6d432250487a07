# raquel: primary user of blackphos. The home identity of the user, wherever the inventory
# gives them an account (modules/clan/inventory/services/user-raquel.nix); the
# machine modules add the shared aggregates (core, ai) next to it.
{
  flake.modules.homeManager."users/raquel" =
    { lib, pkgs, ... }:
    {
      home.username = "raquel";
      home.homeDirectory = lib.mkDefault (
        if pkgs.stdenv.hostPlatform.isDarwin then "/Users/raquel" else "/home/raquel"
      );
      home.stateVersion = "25.05";
      programs.git.userName = lib.mkDefault "raquel";
    };
}
