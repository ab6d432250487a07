# The ZeroTier network: controller on cinnabar, peers on every other
# machine. Taken from modules/_fleet/instances.nix (one source of truth with
# the lab flake); this file only says which clan service implements it.
let
  instance = (import ../../../_fleet/instances.nix).zerotier;
in
{
  clan.inventory.instances.zerotier = instance // {
    module = instance.module // {
      input = "clan-core";
    };
  };
}
