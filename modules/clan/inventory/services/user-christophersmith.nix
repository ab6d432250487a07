# The account of christophersmith on the machines modules/_fleet/instances.nix gives it
# (instance user-christophersmith): clan-core's users service, settings translated by
# ./_users.nix. The user's home environment is modules/home/users/christophersmith.nix.
{
  clan.inventory.instances.user-christophersmith = import ./_users.nix "user-christophersmith";
}
