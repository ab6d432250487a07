{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 400 [
    (final: prev: {
      # typeset with its fonts baked in, so documents render the same in the
      # dev shell and in the sandbox.
      typesetWithFonts = prev.symlinkJoin {
        name = "typeset-with-fonts";
        paths = [ prev.typeset ];
      };
    })
  ];
}
