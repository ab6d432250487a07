# Python: python3Packages.tomlkit is the by-name tomlkit-fast build
#
# A permanent re-route, not a fix: the fleet's tools want the compiled
# parser, kept in pkgs/by-name/tomlkit-fast. python3Packages is rebound to
# the same override so both names see one package set.
{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: {
      python3 = prev.python3.override {
        packageOverrides = pyFinal: pyPrev: {
          tomlkit = final.tomlkit-fast or pyPrev.tomlkit;
        };
      };
      python3Packages = final.python3.pkgs;
    })
  ];
}
