# What every NixOS server runs beyond core: zram swap, journald limits and
# automatic store optimisation. Imported by the four server machines.
{
  flake.modules.nixos.server =
    { lib, ... }:
    {
      zramSwap.enable = lib.mkDefault true;
      services.journald.extraConfig = "SystemMaxUse=1G";
      nix.settings.auto-optimise-store = true;
      documentation.enable = lib.mkDefault false;
    };
}
