# Layer 2: stable fallbacks for a system the fleet does not have
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 200 [
    (
      final: prev:
      prev.lib.optionalAttrs (prev.stdenv.hostPlatform.system == "aarch64-linux") {
        # ghc: segfaults in the stage2 compiler on aarch64-linux
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/ghc.aarch64-linux
        # TODO: Remove when hydra builds ghc on aarch64-linux
        # Date added: 2026-11-07
        ghc = final.stable.ghc;
      }
    )
  ];
}
