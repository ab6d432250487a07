# The nix-darwin part of the base aggregate (the shared nix settings come
# from modules/system/nix-settings.nix): Touch ID for sudo, a few macOS
# defaults every laptop of the fleet shares.
{
  flake.modules.darwin.base =
    { lib, ... }:
    {
      security.pam.services.sudo_local.touchIdAuth = true;
      system.defaults = {
        dock.autohide = true;
        finder.AppleShowAllExtensions = true;
        NSGlobalDomain.AppleShowAllExtensions = true;
      };
      programs.zsh.enable = lib.mkDefault true;
    };
}
