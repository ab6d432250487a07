# scheelite: GCP GPU instance (disabled in terranix unless needed).
#
# Exported as flake.modules.nixos."machines/nixos/scheelite" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its accounts from the inventory (modules/nixos/users.nix), its secrets
# from the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).scheelite;
  inherit (config.flake.modules) nixos;
in
{
  flake.modules.nixos."machines/nixos/scheelite" = {
    imports = [
      nixos.core
      nixos.server
      nixos.users
      nixos.vars
      nixos."hardware/gcp"
    ];
    networking.hostName = "scheelite";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = "25.05";

    # the GPU (g2-standard-4: one NVIDIA L4)
    hardware.graphics.enable = true;
    hardware.nvidia.open = true;
    services.xserver.videoDrivers = [ "nvidia" ];
  };
}
