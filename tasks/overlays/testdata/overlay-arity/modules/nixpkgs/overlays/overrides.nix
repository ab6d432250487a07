# Layer 4: overrides with a one-argument overlay
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 300 [
    (self: {
      mactop = self.mactop;
    })
  ];
}
