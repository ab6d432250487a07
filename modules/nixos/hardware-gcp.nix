# Google Compute Engine hardware (galena, scheelite): nixpkgs' GCE profile
# (serial console, metadata agent, the google-compute root disk).
{
  flake.modules.nixos."hardware/gcp" =
    { modulesPath, ... }:
    {
      imports = [ "${modulesPath}/virtualisation/google-compute-image.nix" ];
    };
}
