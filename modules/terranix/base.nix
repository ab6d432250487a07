# Cloud machines for terranix: the toggles and sizing, and the shared base of
# the terraform configuration.
#
# cloud.machines.<m> = { enabled, provider, serverType, location, image } is
# taken from the `cloud` attribute of modules/_fleet/machines.nix (the same
# data the lab flake renders), so the fleet output, the terranix resources
# and the lab agree by construction. Flipping a machine on or off is one
# edit there: `enabled = false` keeps the declaration and makes terraform
# destroy the server on the next apply (machines.scheelite.enabled = false
# is the GPU instance's cost control).
#
# flake.modules.terranix.base re-declares the same `machines` option inside
# terranix (defaulting to cloud.machines), so a terranix configuration can
# still override a toggle locally: machines.scheelite.enabled = true.
{ config, lib, ... }:
let
  fleetMachines = import ../_fleet/machines.nix;
  cloudMachines = lib.mapAttrs (_: m: m.cloud) (lib.filterAttrs (_: m: (m.cloud or null) != null) fleetMachines);

  machineOptions = {
    options = {
      enabled = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Whether the server exists; false removes it from terraform state on the next apply.";
      };
      provider = lib.mkOption { type = lib.types.enum [ "hetzner" "gcp" ]; };
      serverType = lib.mkOption { type = lib.types.str; description = "hcloud server_type or GCE machine_type"; };
      location = lib.mkOption { type = lib.types.str; description = "hcloud location or GCE zone"; };
      image = lib.mkOption { type = lib.types.str; description = "base image clan installs NixOS over"; };
    };
  };
  machinesOption = lib.mkOption {
    type = lib.types.attrsOf (lib.types.submodule machineOptions);
    default = { };
    description = "Cloud machines provisioned by terranix, by name.";
  };

  topConfig = config;
in
{
  options.cloud.machines = machinesOption;

  config = {
    cloud.machines = cloudMachines;

    flake.modules.terranix.base =
      { lib, ... }:
      {
        options.machines = machinesOption;
        config = {
          machines = lib.mapAttrs (_: m: lib.mapAttrs (_: lib.mkDefault) m) topConfig.cloud.machines;
          # The public key terraform installs for root, so `clan machines
          # install` (and the suite's deploy) can reach the fresh server.
          variable.ssh_public_key = {
            type = "string";
            description = "OpenSSH public key authorized for root on new servers";
          };
        };
      };
  };
}
