# Layer 2: the lab's stable fallbacks
#
# greet 2.x is broken on the darwin stand-ins (stibnite, blackphos,
# argentum, rosegold); they take greet 1.x from the stable channel.
#
# Layer: stable-fallbacks
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 200 [
    (
      final: prev:
      prev.lib.optionalAttrs prev.stdenv.isDarwin {
        # greet: 2.x prints nothing on darwin (lab scenario for the fallback path)
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/hello.aarch64-darwin
        # TODO: Remove when greet 2.x prints on darwin again
        # Date added: 2026-11-15
        greet = final.stable.greet;
      }
    )
  ];
}
