# The `fleet` flake output: the inventory as JSON, in the shape the suite
# reads from every fleet flake (`nix eval --json .#fleet`; see docs/fleet.md).
#
# It is derived, not written a second time:
#   - machines: class, tags, description and deploy target from
#     clan.inventory.machines; system from modules/_fleet/machines.nix (clan's
#     inventory has no system: the machine's nixpkgs.hostPlatform is set from
#     the same file); cloud from the terranix machine definitions
#     (cloud.machines, modules/terranix/base.nix);
#   - instances: which instances, roles, machines and tags from
#     clan.inventory.instances; role settings from modules/_fleet/instances.nix,
#     because clan keeps settings as deferred modules that cannot be read back
#     as data;
#   - users and vars generators: modules/_fleet/{users,generators}.nix.
# The shaping (defaults of files and prompts, generators per class) is the
# lab's own, modules/_fleet/shape.nix, so the real fleet and the lab render the same
# data identically; `go test ./tasks/realfleet` compares the two.
#
# fleetLib (queries over the rendered fleet: usersOf, adminsOf, ...) is how
# machine modules learn who has an account on them without a second list.
{ config, lib, ... }:
let
  data = {
    machines = import ../_fleet/machines.nix;
    instances = import ../_fleet/instances.nix;
    users = import ../_fleet/users.nix;
    generators = import ../_fleet/generators.nix;
  };
  inventory = config.clan.inventory;
  empties = set: lib.mapAttrs (_: _: { }) set;

  machines = lib.mapAttrs (name: m: {
    inherit (m) machineClass tags description;
    system = data.machines.${name}.system;
    deploy.targetHost = m.deploy.targetHost;
    cloud = config.cloud.machines.${name} or null;
  }) inventory.machines;

  instances = lib.mapAttrs (iname: i: {
    module.name = i.module.name;
    roles = lib.mapAttrs (rname: r: {
      machines = empties (r.machines or { });
      tags = empties (r.tags or { });
      settings = data.instances.${iname}.roles.${rname}.settings or { };
    }) (i.roles or { });
  }) inventory.instances;

  fleet = import ../_fleet/shape.nix {
    data = {
      inherit machines instances;
      inherit (data) users generators;
    };
  };
in
{
  options.fleetLib = lib.mkOption {
    type = lib.types.raw;
    readOnly = true;
    internal = true;
    description = "Queries over flake.fleet (modules/_fleet/lib.nix): usersOf, adminsOf, byClass, ...";
  };

  config = {
    flake.fleet = fleet;
    fleetLib = import ../_fleet/lib.nix { inherit fleet; };
  };
}
