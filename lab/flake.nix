# The lab fleet: an input-free flake implementing the vanixiets flake
# contract with builtins only (see docs/fleet.md):
#   fleet                                           inventory JSON (clan's shape)
#   nixosConfigurations.<m>.config.system.build.toplevel
#   darwinConfigurations.<m>.system                 (and .config.system.build.toplevel)
#   packages.x86_64-linux.terraform                 config.tf.json, terranix's shape
#   checks.x86_64-linux.{fleet,toplevels,terraform}
#
# The fleet's data is NOT in this file: it is imported from the plain
# attribute sets in ../modules/_fleet, the same files the real fleet's
# modules import. That works because the lab is read from the repository's
# git tree (nix uses git+file://<repo>?dir=lab for a path inside a git
# checkout), so the whole repository is the flake's source.
#
# Every derivation is built for x86_64-linux, darwin stand-ins included, with
# /bin/sh and the host's coreutils (sandbox = false, as the suite's
# NIX_CONFIG sets).
{
  description = "vanixiets lab fleet (input-free stand-in of the real fleet)";

  outputs = { self }:
    let
      # The lab's TEST-ONLY admin keys: the public halves of
      # keys/<user>.agekey, whose private halves are committed. The real
      # fleet's users.nix holds placeholders where these stand; the lab
      # puts its own keys in, and says below that it is a lab.
      labAgeKeys = {
        crs58 = [ "age16z6s8w7zv3x0ffk2ffltuvgwhnhzs48p5wn5z7jreaft4yvzafpqq29d53" ];
        cameron = [ "age14rl54er5td8pt7hm4leq4qjrungg42kc6cnqu374r5nmu4rt6grsapsjaf" ];
      };
      data = {
        machines = import ../modules/_fleet/machines.nix;
        users = builtins.mapAttrs (n: u: u // { ageKeys = labAgeKeys.${n} or [ ]; })
          (import ../modules/_fleet/users.nix);
        instances = import ../modules/_fleet/instances.nix;
        generators = import ../modules/_fleet/generators.nix;
      };
      # `lab` is the fleet's own declaration that it is a test fleet whose
      # admin identities are committed (relative to this directory). It is
      # the only thing that lets the suite encrypt to those keys, use them
      # as default admin identities, and treat the flake as the lab: nothing
      # is decided from the directory's name.
      fleet = import ../modules/_fleet/shape.nix { inherit data; } // {
        lab.identities = [ "keys/cameron.agekey" "keys/crs58.agekey" ];
      };
      lib = import ../modules/_fleet/lib.nix { inherit fleet; };
      system = import ./nix/system.nix { inherit fleet lib; };
      sshPublicKey = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile ./keys/deploy_ed25519.pub);
      terraformConfig = import ./nix/terraform.nix { inherit fleet sshPublicKey; };
      configuration = m: {
        config.system.build.toplevel = system.toplevel m;
        system = system.toplevel m;
      };
    in
    {
      inherit fleet;

      nixosConfigurations = lib.genAttrs (lib.byClass "nixos") configuration;
      darwinConfigurations = lib.genAttrs (lib.byClass "darwin") configuration;

      packages.x86_64-linux.terraform = derivation {
        name = "config.tf.json";
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" "cp \"$jsonPath\" \"$out\"" ];
        PATH = "/usr/bin:/bin";
        json = builtins.toJSON terraformConfig;
        passAsFile = [ "json" ];
      };

      checks.x86_64-linux = import ./nix/checks.nix {
        inherit fleet lib system;
        terraform = terraformConfig;
      };
    };
}
