# One google_compute_instance, as plain data: the shape both renderings of
# the fleet's GCP machines share (modules/terranix/gcp.nix for the real
# fleet, lab/nix/terraform.nix for the lab), so they cannot drift apart.
# import-tree ignores this file (its name starts with "_").
#
# name:          the machine's name (the instance and its labels)
# cloud:         the machine's `cloud` attribute from modules/_fleet/machines.nix
# sshKeys:       the ssh-keys metadata value ("root:<public key>")
#
# The GPU. Compute Engine's accelerator-optimized machine types (G2, A2)
# come with their GPUs; the instance still says which, and an instance
# with a GPU cannot be live-migrated: Compute Engine refuses it unless
# scheduling.on_host_maintenance is TERMINATE ("Instances with guest
# accelerators do not support live migration"). Both follow from the
# machine type here, so scheelite's fleet entry stays just its sizing and
# its `enabled` toggle, the user's cost control.
{ name, cloud, sshKeys }:
let
  # machine type -> the GPUs it comes with (Compute Engine's table, for
  # the types a fleet machine uses or may move to).
  bundledGpus = {
    "g2-standard-4" = { type = "nvidia-l4"; count = 1; };
    "g2-standard-8" = { type = "nvidia-l4"; count = 1; };
    "g2-standard-12" = { type = "nvidia-l4"; count = 1; };
    "g2-standard-16" = { type = "nvidia-l4"; count = 1; };
    "g2-standard-24" = { type = "nvidia-l4"; count = 2; };
    "a2-highgpu-1g" = { type = "nvidia-tesla-a100"; count = 1; };
  };
  gpu = bundledGpus.${cloud.serverType} or null;
in
{
  inherit name;
  machine_type = cloud.serverType;
  zone = cloud.location;
  boot_disk = [ { initialize_params = [ { image = cloud.image; size = 50; } ]; } ];
  network_interface = [ { network = "default"; access_config = [ { } ]; } ];
  metadata = { ssh-keys = sshKeys; };
  labels = { managed-by = "vanixiets"; machine = name; };
}
// (if gpu == null then { } else {
  guest_accelerator = [ { inherit (gpu) type count; } ];
  scheduling = [ { on_host_maintenance = "TERMINATE"; automatic_restart = true; } ];
})
