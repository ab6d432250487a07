# solver: the prebuilt release of a SAT solver, as a top-level package
#
# Built here from the release tarball (no nixpkgs package exists); on
# darwin the binary is re-signed after its rpath is rewritten.
{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 400 [
    (
      final: prev:
      let
        solverPkg = prev.stdenv.mkDerivation {
          pname = "solver";
          version = "4.2.0";
          src = prev.fetchurl {
            url = "https://example.org/solver-4.2.0.tar.gz";
            hash = lib.fakeHash;
          };
          installPhase = "install -Dm755 solver $out/bin/solver";
        };
      in
      {
        solver =
          if prev.stdenv.isDarwin then
            solverPkg.overrideAttrs (old: {
              postFixup = "codesign -f -s - $out/bin/solver";
            })
          else
            solverPkg;
      }
    )
  ];
}
