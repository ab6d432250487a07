# The NixOS part of the core aggregate (the shared nix settings come from
# modules/system/nix-settings.nix): SSH for deployment, a UTC clock, no
# mutable users (clan's users service owns the accounts).
{
  flake.modules.nixos.core =
    { lib, ... }:
    {
      services.openssh = {
        enable = true;
        settings.PasswordAuthentication = false;
        settings.PermitRootLogin = lib.mkDefault "prohibit-password";
      };
      time.timeZone = lib.mkDefault "UTC";
      networking.firewall.enable = true;
      users.mutableUsers = false;
    };
}
