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
        # (none at present)
      })
    )
  ];
}
