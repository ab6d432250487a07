# Channels: pkgs.stable (per OS), pkgs.unstable, pkgs.patched
#
# Other layers pick packages from these, e.g. final.stable.<name>.
{ inputs, lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 100 [
    (
      final: prev:
      let
        args = { system = prev.stdenv.hostPlatform.system; };
      in
      {
        stable =
          if prev.stdenv.isDarwin then
            import inputs.nixpkgs-darwin-stable args
          else
            import inputs.nixpkgs-linux-stable args;
        unstable = import inputs.nixpkgs args;
        patched = import (prev.applyPatches {
          name = "nixpkgs-patched";
          src = inputs.nixpkgs.outPath;
          patches = [ ];
        }) args;
      }
    )
  ];
}
