{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: {
      fd = prev.fd.overrideAttrs (old: {
        doCheck = false;
      });
    })
  ];
}
