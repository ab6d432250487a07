# perSystem package set: the same overlays, and the by-name packages with
# nested groups named group-member.
{ inputs, config, ... }:
{
  perSystem =
    { system, ... }:
    {
      _module.args.pkgs = import inputs.nixpkgs {
        inherit system;
        overlays = config.nixpkgsOverlays;
      };
      pkgsDirectory = ../../pkgs/by-name;
      pkgsNameSeparator = "-";
    };
}
