# The account of janettesmith on the machines modules/_fleet/instances.nix gives it
# (instance user-janettesmith): clan-core's users service, settings translated by
# ./_users.nix. The user's home environment is modules/home/users/janettesmith.nix.
{
  clan.inventory.instances.user-janettesmith = import ./_users.nix "user-janettesmith";
}
