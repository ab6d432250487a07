# Stable fallbacks for packages broken on unstable, per platform
#
# Each entry names its Hydra job and when it can go.
{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 200 [
    (
      final: prev:
      { }
      // (prev.lib.optionalAttrs (prev.stdenv.hostPlatform.system == "aarch64-darwin") {
        # zellij: fails to link on aarch64-darwin after the libiconv bump
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/zellij.aarch64-darwin
        # TODO: Remove when the unstable build succeeds on aarch64-darwin again
        # Date added: 2026-11-01
        zellij = final.stable.zellij;
      })
    )
  ];
}
