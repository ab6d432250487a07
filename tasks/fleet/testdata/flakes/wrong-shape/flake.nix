{
  outputs = { self }: {
    fleet = {
      machines.topaz = { machineClass = "nixos"; system = "x86_64-linux"; tags = "server"; };
    };
  };
}
