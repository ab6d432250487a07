# Hetzner Cloud VPS hardware (cinnabar, electrum): virtio disk, legacy BIOS
# boot with GRUB on /dev/sda, as terraform creates them from the Ubuntu
# image that clan installs over.
{
  flake.modules.nixos."hardware/hetzner" =
    { modulesPath, ... }:
    {
      imports = [ "${modulesPath}/profiles/qemu-guest.nix" ];
      boot.loader.grub.device = "/dev/sda";
      boot.initrd.availableKernelModules = [
        "ahci"
        "xhci_pci"
        "virtio_pci"
        "virtio_scsi"
        "sd_mod"
        "sr_mod"
      ];
      fileSystems."/" = {
        device = "/dev/disk/by-label/nixos";
        fsType = "ext4";
      };
      networking.useDHCP = true;
    };
}
